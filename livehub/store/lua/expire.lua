-- expire.lua: the sweeper step: unpaid reservations past their deadline give their stock back,
-- exactly once whichever node's sweeper runs it (each reservation's state is checked and moved
-- reserved -> expired atomically; pay.lua moves reserved -> paid the same way).
-- An expired reservation also frees the user's per-user limit (the user got nothing).
-- All keys share the sale's hash tag {sale:<id>}.
-- KEYS[1] sale stock (integer)
-- KEYS[2] sale counts (hash): reserved, expired
-- KEYS[3] per-user held units (hash)
-- KEYS[4] deadlines (sorted set)
-- KEYS[5] events (stream)
-- KEYS[6] outbox (sorted set): "expired:<reservation id>" for reservations holding a store unit or a coupon
-- KEYS[7] sale spec (hash): ends_at_ms, reservation_ttl_s
-- KEYS[8..] the candidate reservations (hashes), as read from the deadlines by the caller
-- ARGV[1] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[2] events stream MAXLEN (approximate trimming)
-- ARGV[3] retention (ms): an expired reservation expires at ends_at_ms + reservation_ttl_s + retention,
--         when the whole sale's keys do (retire.lua)
-- ARGV[4..] the candidates' reservation ids, in KEYS order
-- Returns {available, expired reservation ids (list), outbox members added (list)}

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local window = redis.call('HMGET', KEYS[7], 'ends_at_ms', 'reservation_ttl_s')
local keep_until = nil
if window[1] then
  keep_until = tonumber(window[1]) + tonumber(window[2]) * 1000 + tonumber(ARGV[3])
end
local expired, effects = {}, {}
for i = 8, #KEYS do
  local rid = ARGV[i - 4]
  local r = redis.call('HMGET', KEYS[i], 'state', 'deadline_ms', 'qty', 'user', 'store_id', 'coupon_id')
  if r[1] == 'reserved' then
    if tonumber(r[2]) < now then
      local qty = tonumber(r[3])
      redis.call('HSET', KEYS[i], 'state', 'expired', 'expired_at_ms', now)
      if keep_until then
        redis.call('PEXPIRE', KEYS[i], math.max(keep_until - now, 1))  -- relative to the script's clock
      end
      local left = redis.call('INCRBY', KEYS[1], qty)
      redis.call('HINCRBY', KEYS[2], 'reserved', -qty)
      redis.call('HINCRBY', KEYS[2], 'expired', qty)
      if redis.call('HINCRBY', KEYS[3], r[4], -qty) <= 0 then
        redis.call('HDEL', KEYS[3], r[4])
      end
      redis.call('ZREM', KEYS[4], rid)
      redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'type', 'expired', 'reservation_id', rid,
        'qty', qty, 'available', left, 'ts', now)
      expired[#expired + 1] = rid
      if (r[5] and r[5] ~= '') or (r[6] and r[6] ~= '') then
        local member = 'expired:' .. rid
        redis.call('ZADD', KEYS[6], now, member)
        effects[#effects + 1] = member
      end
    end
  else
    -- paid, expired or gone: not a candidate any more
    redis.call('ZREM', KEYS[4], rid)
  end
end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), expired, effects}
