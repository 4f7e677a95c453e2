-- guide_winner.lua: record an hour's winner of the guide contest (the top guide by sales), once.
-- Whichever node runs it first records it; later calls answer the recorded winner unchanged.
-- All keys share the hour's hash tag {guides:<YYYYMMDDHH>}.
-- KEYS[1] sales per guide (sorted set guide id -> cents)
-- KEYS[2] commission per guide (hash guide id -> cents)
-- KEYS[3] the hour's winner (hash): guide, sales_cents, commission_cents, recorded_at_ms
-- ARGV[1] now (unix ms): recorded_at_ms
-- ARGV[2] time to live of the winner (seconds)
-- Returns {state, guide, sales_cents, commission_cents, recorded_at_ms}
--   state: "recorded" (by this call), "kept" (recorded before), "none" (nobody sold in the hour: nothing recorded)

local kept = redis.call('HMGET', KEYS[3], 'guide', 'sales_cents', 'commission_cents', 'recorded_at_ms')
if kept[1] then
  return {'kept', kept[1], kept[2], kept[3], kept[4]}
end
local top = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #top == 0 then
  return {'none', '', '0', '0', '0'}
end
local commission = redis.call('HGET', KEYS[2], top[1]) or '0'
local sales = string.format('%.0f', tonumber(top[2]))
redis.call('HSET', KEYS[3], 'guide', top[1], 'sales_cents', sales, 'commission_cents', commission,
           'recorded_at_ms', ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[2])
return {'recorded', top[1], sales, commission, ARGV[1]}
