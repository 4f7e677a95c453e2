-- snapshot.lua: a hub channel's position and latest-value state, read atomically.
--
-- KEYS[1]  channel meta hash   {ch:<name>}:meta
-- KEYS[2]  channel history     {ch:<name>}:hist
-- KEYS[3]  channel state       {ch:<name>}:state
-- ARGV[1]  epoch to create if the channel has none yet
-- ARGV[2]  ttl seconds
-- Returns  {epoch, offset, field1, value1, field2, value2, ...}

local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
end
local offset = tonumber(redis.call('HGET', KEYS[1], 'offset'))
local out = {epoch, offset}
local state = redis.call('HGETALL', KEYS[3])
for i = 1, #state do
  out[#out + 1] = state[i]
end
return out
