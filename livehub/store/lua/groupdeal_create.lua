-- groupdeal_create.lua: open a group deal (its spec, its stock of groups, its counts) unless it exists.
-- All keys share the deal's hash tag {group:<deal>}.
-- KEYS[1] the deal's spec (hash)
-- KEYS[2] groups left to start (integer)
-- KEYS[3] counts (hash): open, completed, expired
-- KEYS[4] deadlines of open groups (sorted set; created by group_start.lua, only its expiry here)
-- ARGV[1] groups (the stock of groups)
-- ARGV[2] keep until (unix ms): when every key of the deal expires (the last group's deadline + retention)
-- ARGV[3..] the spec's fields and values, alternating
-- Returns 1 when created, 0 when the deal existed (nothing changed)

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'keep_until_ms', ARGV[2], unpack(ARGV, 3))
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'open', 0, 'completed', 0, 'expired', 0)
for i = 1, 3 do
  redis.call('PEXPIREAT', KEYS[i], ARGV[2])
end
return 1
