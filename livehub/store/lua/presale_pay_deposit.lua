-- presale_pay_deposit.lua: a paid deposit moves deposit_due -> balance_due (idempotent), unless its
-- deadline has passed.  presale_sweep.lua moves deposit_due -> lapsed the same way, atomically, so a
-- payment racing the sweeper has exactly one winner.
-- All keys share the pre-sale's hash tag {presale:<id>}.
-- KEYS[1] the deposit (hash)
-- KEYS[2] counts (hash)
-- KEYS[3] deposit deadlines (sorted set)
-- KEYS[4] balances due (sorted set): deposit id -> deposit paid at
-- KEYS[5] events (stream)
-- ARGV[1] deposit id
-- ARGV[2] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[3] events stream MAXLEN (approximate trimming)
-- ARGV[4] payment reference of the deposit payment (may be "")
-- Returns {code, detail}: detail = the deposit hash as a flat field/value list ("" for not_found)
--   "paid": this call moved it to balance_due
--   "duplicate": the deposit was paid before (any later state but lapsed)
--   "lapsed": the deadline passed: the deposit is (or now becomes, at the sweeper) lapsed; refund the payment
--   "not_found": no such deposit

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found', ''}
end
local r = redis.call('HMGET', KEYS[1], 'state', 'deadline_ms', 'qty')
if r[1] == 'lapsed' then
  return {'lapsed', redis.call('HGETALL', KEYS[1])}
end
if r[1] ~= 'deposit_due' then
  return {'duplicate', redis.call('HGETALL', KEYS[1])}
end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if now > tonumber(r[2]) then
  return {'lapsed', redis.call('HGETALL', KEYS[1])}
end
local qty = tonumber(r[3])
redis.call('HSET', KEYS[1], 'state', 'balance_due', 'deposit_paid_at_ms', now, 'deposit_ref', ARGV[4])
redis.call('HINCRBY', KEYS[2], 'deposit_due', -qty)
redis.call('HINCRBY', KEYS[2], 'balance_due', qty)
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'type', 'deposit_paid', 'deposit_id', ARGV[1],
  'qty', qty, 'ts', now)
return {'paid', redis.call('HGETALL', KEYS[1])}
