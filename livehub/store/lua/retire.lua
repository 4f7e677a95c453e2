-- retire.lua: a long-over sale's keys get their expiry, once every reservation is settled.
-- "Long over": past ends_at_ms + reservation_ttl_s, so no reservation can be bought or paid any more.
-- "Settled": no reservation is still reserved (the deadlines are empty: expire.lua and pay.lua remove
-- them) and no follow-up effect is pending (the outbox is empty).  Then every key of the sale expires
-- at ends_at_ms + reservation_ttl_s + retention, as its settled reservations and orders already do
-- (pay.lua and expire.lua set theirs when they settle them).  Idempotent: every node's sweeper may run it.
-- All keys share the sale's hash tag {sale:<id>}.
-- KEYS[1] sale spec (hash): ends_at_ms, reservation_ttl_s
-- KEYS[2] sale stock (integer)
-- KEYS[3] sale counts (hash)
-- KEYS[4] per-user held units (hash)
-- KEYS[5] deadlines (sorted set)
-- KEYS[6] events (stream)
-- KEYS[7] outbox (sorted set)
-- KEYS[8] the users' reservation ids (hash)
-- ARGV[1] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[2] retention (ms)
-- Returns {code, keep_until_ms}; codes: not_found, running (not long over yet), unsettled, retired

local window = redis.call('HMGET', KEYS[1], 'ends_at_ms', 'reservation_ttl_s')
if not window[1] then
  return {'not_found', 0}
end
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local settled_by = tonumber(window[1]) + tonumber(window[2]) * 1000
local keep_until = settled_by + tonumber(ARGV[2])
if now <= settled_by then
  return {'running', keep_until}
end
if redis.call('ZCARD', KEYS[5]) > 0 or redis.call('ZCARD', KEYS[7]) > 0 then
  return {'unsettled', keep_until}
end
local keep_ms = math.max(keep_until - now, 1)  -- relative to the script's clock (server TIME but in tests)
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], keep_ms)
end
return {'retired', keep_until}
