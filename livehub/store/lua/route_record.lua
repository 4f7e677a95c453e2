-- route_record.lua: record where a reservation is fulfilled from, once, while it is still reserved.
-- The store unit was taken before (store_take.lua, in the store's slot); if this answers "kept" with
-- another store, or "closed", the caller gives its own store unit back (store_settle.lua release).
-- KEYS[1] the reservation (hash), hash tag {sale:<id>}
-- ARGV[1] mode: "pickup" | "delivery"
-- ARGV[2] store id, or "" (warehouse)
-- ARGV[3] distance in km, or "" (unknown)
-- ARGV[4] fallback: "1" when the buyer's chosen pickup store could not serve, else "0"
-- Returns {outcome, mode, store id, distance, fallback}:
--   "recorded": this fulfilment is now the reservation's
--   "kept": another fulfilment was recorded first (returned)
--   "closed": the reservation is paid or expired (returned fields are what it has, if anything)
--   "gone": no such reservation

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'gone', '', '', '', ''}
end
local r = redis.call('HMGET', KEYS[1], 'state', 'mode', 'store_id', 'distance_km', 'fallback')
if r[2] then
  return {'kept', r[2], r[3] or '', r[4] or '', r[5] or '0'}
end
if r[1] ~= 'reserved' then
  return {'closed', '', '', '', ''}
end
redis.call('HSET', KEYS[1], 'mode', ARGV[1], 'store_id', ARGV[2], 'distance_km', ARGV[3], 'fallback', ARGV[4])
return {'recorded', ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
