-- coupon_settle.lua: settle a locked coupon once: "commit" marks it used (the order was paid),
-- "release" gives it back to the user's wallet (the buy failed or the reservation expired).
-- Idempotent: only a "locked" use changes.
-- All keys share the drop's hash tag {coupon:<id>}.
-- KEYS[1] wallet (hash user -> unused coupons)
-- KEYS[2] uses (hash use id -> "locked|used|released:<user>:<ms>")
-- ARGV[1] use id (the reservation id)
-- ARGV[2] "commit" | "release"
-- ARGV[3] now (unix ms), or "" to use the server's TIME
-- Returns 1 when this call settled the lock, else 0

local use = redis.call('HGET', KEYS[2], ARGV[1])
if not use then
  return 0
end
local state, user = string.match(use, '^(%a+):(.*):%d+$')
if state ~= 'locked' then
  return 0
end
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if ARGV[2] == 'commit' then
  redis.call('HSET', KEYS[2], ARGV[1], 'used:' .. user .. ':' .. now)
else
  redis.call('HSET', KEYS[2], ARGV[1], 'released:' .. user .. ':' .. now)
  redis.call('HINCRBY', KEYS[1], user, 1)
end
return 1
