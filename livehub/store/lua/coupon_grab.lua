-- coupon_grab.lua: grab one coupon of a drop, atomically, within the per-user limit.
-- All keys share the drop's hash tag {coupon:<id>}.
-- KEYS[1] coupon spec (hash): per_user_limit, expires_at_ms, only_guide ("" or absent: anyone)
-- KEYS[2] coupons left to grab (integer)
-- KEYS[3] grabs per user (hash user -> coupons grabbed, ever)
-- KEYS[4] wallet (hash user -> grabbed coupons not yet locked or used)
-- ARGV[1] user id
-- ARGV[2] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[3] the guide the user is attributed to, or "" (a guide-only drop refuses everyone else)
-- Returns {code, left, grabbed by the user, unused by the user}
--   codes: ok sold_out limit_reached expired not_found guide_only

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found', 0, 0, 0}
end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local spec = redis.call('HMGET', KEYS[1], 'per_user_limit', 'expires_at_ms', 'only_guide')
local left = tonumber(redis.call('GET', KEYS[2]) or '0')
local grabbed = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local unused = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if now >= tonumber(spec[2]) then
  return {'expired', left, grabbed, unused}
end
if spec[3] and spec[3] ~= '' and spec[3] ~= ARGV[3] then
  return {'guide_only', left, grabbed, unused}
end
if grabbed >= tonumber(spec[1]) then
  return {'limit_reached', left, grabbed, unused}
end
if left < 1 then
  return {'sold_out', left, grabbed, unused}
end
left = redis.call('DECR', KEYS[2])
grabbed = redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
unused = redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
return {'ok', left, grabbed, unused}
