-- order_publish.lua: append a confirmed order to the orders stream exactly once.
-- Both keys share the hash tag {orders}.
-- KEYS[1] the orders stream
-- KEYS[2] the order's "published" marker (a string; expires after ARGV[2] seconds)
-- ARGV[1] order id
-- ARGV[2] marker time to live (seconds): a re-publish later than this would append again
-- ARGV[3] stream MAXLEN (approximate trimming)
-- ARGV[4..] the order's fields, name value name value ...
-- Returns the new entry id, or false when the order was published before (nothing appended)

if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return false
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
