-- refund_publish.lua: append a refund to the refunds stream exactly once.
-- Both keys share the hash tag {refunds}.
-- KEYS[1] the refunds stream
-- KEYS[2] the refund's "published" marker (a string; expires after ARGV[2] seconds)
-- ARGV[1] refund id
-- ARGV[2] marker time to live (seconds): a re-publish later than this would append again
-- ARGV[3] stream MAXLEN (approximate trimming)
-- ARGV[4..] the refund's fields, name value name value ...
-- Returns the new entry id, or false when the refund was published before (nothing appended)

if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return false
end
local fields = {}
for i = 4, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', unpack(fields))
