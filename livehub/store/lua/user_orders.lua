-- user_orders.lua: one buyer's "my orders" index (livehub.store.my_orders): note an entry before the
-- state change it points at is answered, drop it when that change failed.  An entry leaves the index
-- only when every attempt that noted it failed, so an acknowledged reservation is never dropped by a
-- failing retry racing it.
-- All keys share the user's hash tag {user:<id>}.
-- KEYS[1] the index (sorted set "<kind>|<venue>|<id>" -> unix ms)
-- KEYS[2] pending attempts (hash entry -> attempts that noted it and have not failed)
-- ARGV[1] "note" | "drop"
-- ARGV[2] the entry ("<kind>|<venue>|<id>")
-- ARGV[3] now (unix ms): the entry's score when it is new
-- ARGV[4] entries kept (note: the oldest beyond this are trimmed)
-- ARGV[5] the index's lifetime (ms; every note renews it)
-- Returns 1 when the entry is in the index after this call, 0 when it is not

if ARGV[1] == 'note' then
  redis.call('ZADD', KEYS[1], 'NX', tonumber(ARGV[3]), ARGV[2])
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  local keep = tonumber(ARGV[4])
  local over = redis.call('ZCARD', KEYS[1]) - keep
  if over > 0 then
    local gone = redis.call('ZRANGE', KEYS[1], 0, over - 1)
    redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
    redis.call('HDEL', KEYS[2], unpack(gone))
  end
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[5]))
  return redis.call('ZSCORE', KEYS[1], ARGV[2]) and 1 or 0
end
local left = redis.call('HINCRBY', KEYS[2], ARGV[2], -1)
if left > 0 then
  return 1
end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
return 0
