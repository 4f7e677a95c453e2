-- guide_credit.lua: credit one order to a guide and the guide's store in an hour's contest, once.
-- All keys share the hour's hash tag {guides:<YYYYMMDDHH>}.
-- KEYS[1] credited order ids (set): makes crediting idempotent
-- KEYS[2] sales per guide (sorted set guide id -> cents)
-- KEYS[3] commission per guide (hash guide id -> cents)
-- KEYS[4] guide-attributed sales per store (sorted set store id -> cents)
-- KEYS[5] the guide's latest credited orders in the hour (list, newest first)
-- ARGV[1] order id
-- ARGV[2] guide id
-- ARGV[3] the guide's store id
-- ARGV[4] order amount (cents)
-- ARGV[5] commission (cents)
-- ARGV[6] time to live of the hour's keys (seconds)
-- ARGV[7] the order's entry in KEYS[5]: "order id|amount cents|commission cents"
-- ARGV[8] entries KEYS[5] keeps (the oldest are trimmed)
-- Returns 1 when this call credited the order, 0 when it was credited before

if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZINCRBY', KEYS[2], ARGV[4], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[2], ARGV[5])
redis.call('ZINCRBY', KEYS[4], ARGV[4], ARGV[3])
redis.call('LPUSH', KEYS[5], ARGV[7])
redis.call('LTRIM', KEYS[5], 0, tonumber(ARGV[8]) - 1)
for i = 1, 5 do
  redis.call('EXPIRE', KEYS[i], ARGV[6])
end
return 1
