-- store_settle.lua: settle a store hold once: "commit" keeps the units taken (the order was paid),
-- "release" gives them back to the store's stock (the reservation expired or went elsewhere).
-- Idempotent: a hold is settled at most once, so units go back exactly once.
-- KEYS[1] the store's stock (hash sku -> units), hash tag {store:<id>}
-- KEYS[2] the store's holds (hash hold id -> "sku|qty|ms")
-- ARGV[1] hold id (the reservation id)
-- ARGV[2] "commit" | "release"
-- Returns 1 when this call settled the hold, 0 when there was no hold (already settled or never taken)

local hold = redis.call('HGET', KEYS[2], ARGV[1])
if not hold then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
if ARGV[2] == 'release' then
  local sku, qty = string.match(hold, '^(.*)|(%d+)|%d+$')
  redis.call('HINCRBY', KEYS[1], sku, tonumber(qty))
end
return 1
