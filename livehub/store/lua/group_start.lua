-- group_start.lua: a viewer starts a group of a deal and pays for it (joining is paying): one group
-- taken from the deal's stock, the starter its first member.  Idempotent: the group id is derived from
-- (deal, user, request id), so a retry finds the group and answers "duplicate".
-- All keys share the deal's hash tag {group:<deal>}.
-- KEYS[1] the deal's spec (hash)
-- KEYS[2] groups left to start (integer)
-- KEYS[3] counts (hash): open
-- KEYS[4] deadlines of open groups (sorted set)
-- KEYS[5] the group (hash)
-- KEYS[6] the group's members (hash user -> JSON)
-- ARGV[1] group id
-- ARGV[2] user id
-- ARGV[3] request id
-- ARGV[4] payment reference ("" in tests)
-- ARGV[5] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[6] guide id ("" without a guide's credit)
-- ARGV[7] guide's store ("" without)
-- Returns {code, the group as a flat field/value list (or "")}:
--   "joined" (the group is open with its starter), "duplicate" (a retry), "ended", "no_stock", "not_found"

local spec = redis.call('HMGET', KEYS[1], 'ends_at_ms', 'group_ttl_s', 'group_size', 'keep_until_ms')
if not spec[1] then
  return {'not_found', ''}
end
if redis.call('EXISTS', KEYS[5]) == 1 then
  local member = redis.call('HGET', KEYS[6], ARGV[2])
  if member and cjson.decode(member)['rq'] == ARGV[3] then
    return {'duplicate', redis.call('HGETALL', KEYS[5])}
  end
  return {'not_found', ''}  -- a group id of another start: not this user's to retry
end
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if now >= tonumber(spec[1]) then
  return {'ended', ''}
end
if tonumber(redis.call('GET', KEYS[2]) or '0') <= 0 then
  return {'no_stock', ''}
end
redis.call('DECR', KEYS[2])
redis.call('HINCRBY', KEYS[3], 'open', 1)
local deadline = now + tonumber(spec[2]) * 1000
redis.call('HSET', KEYS[5], 'group_id', ARGV[1], 'state', 'open', 'size', spec[3], 'joined', 1,
  'deadline_ms', deadline, 'created_at_ms', now, 'settled_at_ms', 0)
redis.call('HSET', KEYS[6], ARGV[2], cjson.encode({rq = ARGV[3], ref = ARGV[4], at = now, n = 1,
  g = ARGV[6], gs = ARGV[7]}))
redis.call('ZADD', KEYS[4], deadline, ARGV[1])
redis.call('PEXPIREAT', KEYS[4], spec[4])
redis.call('PEXPIREAT', KEYS[5], spec[4])
redis.call('PEXPIREAT', KEYS[6], spec[4])
return {'joined', redis.call('HGETALL', KEYS[5])}
