-- pickup_issue.lua: give a confirmed pickup order its pickup code, once (idempotent per order).
-- All keys share the store's hash tag {store:<id>}.
-- KEYS[1] the store's pickups (hash order id -> "<code>" | "<code>|<picked up ms>|<staff>")
-- KEYS[2] the store's pickup codes (hash code -> order id): codes are unique per store
-- ARGV[1] order id
-- ARGV[2] a fresh random code (the caller's candidate)
-- Returns {outcome, code}: "issued" (this call gave ARGV[2]), "kept" (the order had a code: that one),
--   "taken" (the candidate is another order's code: the caller draws again; code "")

local had = redis.call('HGET', KEYS[1], ARGV[1])
if had then
  return {'kept', string.match(had, '^[^|]*')}
end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return {'taken', ''}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return {'issued', ARGV[2]}
