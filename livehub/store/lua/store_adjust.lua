-- store_adjust.lua: staff (or an admin) adjust one sku's units on hand at a store, audited, once per
-- request id (a retry answers the first answer again; the marker lives ARGV[7] ms).
-- All keys share the store's hash tag {store:<id>}.
-- KEYS[1] the store's stock (hash sku -> units)
-- KEYS[2] the store's audit stream
-- KEYS[3] this request's answer marker (string with a TTL)
-- ARGV[1] sku
-- ARGV[2] delta (an integer, not 0)
-- ARGV[3] who (the token's subject)
-- ARGV[4] now (unix ms), or "" to use the server's TIME
-- ARGV[5] audit stream MAXLEN (approximate trimming)
-- ARGV[6] the request id
-- ARGV[7] how long the answer is remembered (ms)
-- Returns {outcome, units on hand}: "adjusted"; "duplicate" (this request id was answered: its units
--   then); "below_zero" (the delta would take more units than the store has; nothing changed)

local done = redis.call('GET', KEYS[3])
if done then
  return {'duplicate', tonumber(done)}
end
local units = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local delta = tonumber(ARGV[2])
if units + delta < 0 then
  return {'below_zero', units}
end
local now = tonumber(ARGV[4])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
units = redis.call('HINCRBY', KEYS[1], ARGV[1], delta)
redis.call('SET', KEYS[3], units, 'PX', tonumber(ARGV[7]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'type', 'stock', 'sku', ARGV[1], 'delta', delta,
  'units', units, 'who', ARGV[3], 'request_id', ARGV[6], 'ts', now)
return {'adjusted', units}
