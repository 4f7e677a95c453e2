-- stats_count.lua: count one confirmed order in one scope's live numbers, once.
-- All keys share the scope's hash tag {stats:<scope>} (a venue's, or the festival's).
-- KEYS[1] the order's "counted" marker (a string; expires after ARGV[7] seconds)
-- KEYS[2] totals (hash gmv_cents, orders, units)
-- KEYS[3] the order's minute bucket (hash orders, gmv_cents; expires after ARGV[8] seconds)
-- KEYS[4] buyers (HyperLogLog of user ids)
-- KEYS[5] GMV per brand (sorted set)
-- KEYS[6] GMV per store (sorted set)
-- ARGV[1] order id
-- ARGV[2] amount (cents)
-- ARGV[3] units
-- ARGV[4] buyer's user id
-- ARGV[5] brand id
-- ARGV[6] store id ("" for a warehouse delivery)
-- ARGV[7] time to live of the marker and of the scope's keys (seconds)
-- ARGV[8] time to live of the minute bucket (seconds)
-- Returns 1 when this call counted the order, 0 when it was counted before

if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[7]) then
  return 0
end
redis.call('HINCRBY', KEYS[2], 'gmv_cents', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'orders', 1)
redis.call('HINCRBY', KEYS[2], 'units', ARGV[3])
redis.call('HINCRBY', KEYS[3], 'orders', 1)
redis.call('HINCRBY', KEYS[3], 'gmv_cents', ARGV[2])
redis.call('PFADD', KEYS[4], ARGV[4])
redis.call('ZINCRBY', KEYS[5], ARGV[2], ARGV[5])
if ARGV[6] ~= '' then
  redis.call('ZINCRBY', KEYS[6], ARGV[2], ARGV[6])
  redis.call('EXPIRE', KEYS[6], ARGV[7])
end
redis.call('EXPIRE', KEYS[2], ARGV[7])
redis.call('EXPIRE', KEYS[3], ARGV[8])
redis.call('EXPIRE', KEYS[4], ARGV[7])
redis.call('EXPIRE', KEYS[5], ARGV[7])
return 1
