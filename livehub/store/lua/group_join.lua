-- group_join.lua: a viewer joins an open group and pays for it (joining is paying).  The N-th paid member
-- completes the group: its state moves open -> completed here and open -> expired in group_expire.lua,
-- each checked and changed atomically, so a last join racing the deadline has exactly one winner.
-- A completed group adds "completed:<group>" to the deal's outbox (every member's order, published
-- once to the orders stream by livehub.store.groups).  One user joins a group at most once.
-- All keys share the deal's hash tag {group:<deal>}.
-- KEYS[1] counts (hash): open, completed
-- KEYS[2] deadlines of open groups (sorted set)
-- KEYS[3] the group (hash)
-- KEYS[4] the group's members (hash user -> JSON)
-- KEYS[5] the deal's outbox (sorted set)
-- ARGV[1] group id
-- ARGV[2] user id
-- ARGV[3] request id
-- ARGV[4] payment reference ("" in tests)
-- ARGV[5] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[6] guide id ("" without a guide's credit)
-- ARGV[7] guide's store ("" without)
-- Returns {code, the group as a flat field/value list (or "")}:
--   "joined", "completed" (this join was the N-th), "duplicate" (a retry of this user's join),
--   "already_member" (another request of a member), "full", "expired", "not_found"

local g = redis.call('HMGET', KEYS[3], 'state', 'deadline_ms', 'size', 'joined')
if not g[1] then
  return {'not_found', ''}
end
local member = redis.call('HGET', KEYS[4], ARGV[2])
if member then
  if cjson.decode(member)['rq'] == ARGV[3] then
    return {'duplicate', redis.call('HGETALL', KEYS[3])}
  end
  return {'already_member', redis.call('HGETALL', KEYS[3])}
end
if g[1] == 'completed' then
  return {'full', redis.call('HGETALL', KEYS[3])}
end
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if g[1] ~= 'open' or now > tonumber(g[2]) then
  return {'expired', redis.call('HGETALL', KEYS[3])}
end
local joined = tonumber(g[4]) + 1
redis.call('HSET', KEYS[4], ARGV[2], cjson.encode({rq = ARGV[3], ref = ARGV[4], at = now, n = joined,
  g = ARGV[6], gs = ARGV[7]}))
redis.call('HSET', KEYS[3], 'joined', joined)
if joined < tonumber(g[3]) then
  return {'joined', redis.call('HGETALL', KEYS[3])}
end
redis.call('HSET', KEYS[3], 'state', 'completed', 'settled_at_ms', now)
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'open', -1)
redis.call('HINCRBY', KEYS[1], 'completed', 1)
redis.call('ZADD', KEYS[5], now, 'completed:' .. ARGV[1])
return {'completed', redis.call('HGETALL', KEYS[3])}
