-- store_take.lua: take units of a sku from one store's stock for a reservation (idempotent per hold).
-- KEYS[1] the store's stock (hash sku -> units), hash tag {store:<id>}
-- KEYS[2] the store's holds (hash hold id -> "sku|qty|ms"): units taken for unpaid reservations
-- ARGV[1] hold id (the reservation id)
-- ARGV[2] sku
-- ARGV[3] qty
-- ARGV[4] now (unix ms) for the hold's timestamp, or "" to use the server's TIME
-- Returns {taken, units left}: taken 1 when the units are (or already were) held for this id, else 0

local left = tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0')
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return {1, left}
end
local qty = tonumber(ARGV[3])
if left < qty then
  return {0, left}
end
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
left = redis.call('HINCRBY', KEYS[1], ARGV[2], -qty)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. '|' .. qty .. '|' .. now)
return {1, left}
