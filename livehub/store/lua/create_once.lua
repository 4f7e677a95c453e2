-- create_once.lua: create a spec hash and its counter together, unless the spec exists already.
-- Used for a sale (spec + stock) and a coupon drop (spec + coupons left); both keys share a hash tag.
-- KEYS[1] the spec (hash)
-- KEYS[2] the counter (integer)
-- ARGV[1] the counter's initial value
-- ARGV[2..] the spec's fields and values, alternating
-- Returns 1 when created, 0 when the spec existed (nothing changed)

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SET', KEYS[2], ARGV[1])
return 1
