-- presale_sweep.lua: the pre-sale sweeper step, exactly once whichever node's sweeper runs it:
-- deposits not paid by their deadline lapse (deposit_due -> lapsed), and once the balance window
-- has ended, deposits whose balance is unpaid are forfeited or refunded by the pre-sale's rule
-- (balance_due -> forfeited | refunded; a refund is recorded in the refunds stream in the same
-- step).  Each candidate's state is checked and moved atomically; units go back to the stock.
-- When the balance window has ended and nothing is left unsettled, the pre-sale is retired: its
-- keys expire at balance_ends_at_ms + retention.
-- All keys share the pre-sale's hash tag {presale:<id>}.
-- KEYS[1] spec (hash)     KEYS[2] stock (integer)   KEYS[3] counts (hash)   KEYS[4] users (hash)
-- KEYS[5] deposit deadlines (sorted set)            KEYS[6] balances due (sorted set)
-- KEYS[7] events (stream) KEYS[8] refunds (stream)  KEYS[9] outbox (sorted set)
-- KEYS[10..] the candidate deposits (hashes), as read from the two sorted sets by the caller
-- ARGV[1] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[2] events stream MAXLEN     ARGV[3] refunds stream MAXLEN     ARGV[4] retention (ms)
-- ARGV[5..] the candidates' deposit ids, in KEYS order
-- Returns {available, lapsed deposit ids, forfeited or refunded deposit ids, retired (0 | 1)}

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local spec = redis.call('HMGET', KEYS[1], 'balance_ends_at_ms', 'unpaid')
if not spec[1] then
  return {0, {}, {}, 0}
end
local ends = tonumber(spec[1])
local keep_ms = math.max(ends + tonumber(ARGV[4]) - now, 1)
local unpaid = 'forfeited'
if spec[2] == 'refund' then
  unpaid = 'refunded'
end

local function give_back(key, did, user, qty, from, to)
  redis.call('HSET', key, 'state', to, 'settled_at_ms', now)
  redis.call('PEXPIRE', key, keep_ms)
  local left = redis.call('INCRBY', KEYS[2], qty)
  redis.call('HINCRBY', KEYS[3], from, -qty)
  redis.call('HINCRBY', KEYS[3], to, qty)
  if redis.call('HINCRBY', KEYS[4], user, -qty) <= 0 then
    redis.call('HDEL', KEYS[4], user)
  end
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[2], '*', 'type', to, 'deposit_id', did, 'qty', qty,
    'available', left, 'ts', now)
end

local lapsed, unpaid_ids = {}, {}
for i = 10, #KEYS do
  local did = ARGV[i - 5]
  local r = redis.call('HMGET', KEYS[i], 'state', 'deadline_ms', 'qty', 'user', 'deposit_cents', 'deposit_ref')
  if r[1] == 'deposit_due' then
    if tonumber(r[2]) < now then
      give_back(KEYS[i], did, r[4], tonumber(r[3]), 'deposit_due', 'lapsed')
      redis.call('ZREM', KEYS[5], did)
      lapsed[#lapsed + 1] = did
    end
  elseif r[1] == 'balance_due' then
    if now >= ends then
      give_back(KEYS[i], did, r[4], tonumber(r[3]), 'balance_due', unpaid)
      redis.call('ZREM', KEYS[6], did)
      if unpaid == 'refunded' then
        redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[3], '*', 'deposit_id', did, 'user', r[4],
          'amount_cents', r[5], 'payment_ref', r[6] or '', 'ts', now)
      end
      unpaid_ids[#unpaid_ids + 1] = did
    end
  else
    -- moved on (or gone): not a candidate any more
    redis.call('ZREM', KEYS[5], did)
    redis.call('ZREM', KEYS[6], did)
  end
end

local retired = 0
if now >= ends and redis.call('ZCARD', KEYS[5]) == 0 and redis.call('ZCARD', KEYS[6]) == 0
    and redis.call('ZCARD', KEYS[9]) == 0 then
  for k = 1, 9 do
    redis.call('PEXPIRE', KEYS[k], keep_ms)
  end
  retired = 1
end
return {tonumber(redis.call('GET', KEYS[2]) or '0'), lapsed, unpaid_ids, retired}
