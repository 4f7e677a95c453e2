-- publish.lua: publish one event on a hub channel, atomically.
--
-- KEYS[1]  channel meta hash   {ch:<name>}:meta   fields: epoch, offset
-- KEYS[2]  channel history     {ch:<name>}:hist   stream, entry id 0-<offset>, field b = body
-- KEYS[3]  channel state       {ch:<name>}:state  hash field -> JSON value (latest-value state)
-- ARGV[1]  pub/sub channel name
-- ARGV[2]  event body (JSON object bytes: {"kind":..,"data":..,"ts":..})
-- ARGV[3]  history size (approximate MAXLEN)
-- ARGV[4]  ttl seconds for the three keys
-- ARGV[5]  epoch to use if the channel has none yet (random, chosen by the caller)
-- ARGV[6]  n = number of state changes, followed by n pairs (field, value); value "" deletes
-- Returns  {epoch, offset}
--
-- A channel without meta starts a new epoch and drops any leftover history and
-- state, so offsets of one epoch always form one unbroken sequence.

local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[5]
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'offset', 0)
end
local offset = redis.call('HINCRBY', KEYS[1], 'offset', 1)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '0-' .. offset, 'b', ARGV[2])

local n = tonumber(ARGV[6])
for i = 0, n - 1 do
  local f = ARGV[7 + 2 * i]
  local v = ARGV[8 + 2 * i]
  if v == '' then
    redis.call('HDEL', KEYS[3], f)
  else
    redis.call('HSET', KEYS[3], f, v)
  end
end

local ttl = tonumber(ARGV[4])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('EXPIRE', KEYS[3], ttl)
end

redis.call('PUBLISH', ARGV[1], 'E' .. epoch .. ' ' .. offset .. ' ' .. ARGV[2])
return {epoch, offset}
