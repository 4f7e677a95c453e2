-- group_expire.lua: the sweeper step: open groups past their deadline expire, exactly once whichever
-- node's sweeper runs it (each group's state is checked and moved open -> expired atomically;
-- group_join.lua moves open -> completed the same way).  The group goes back to the deal's stock and
-- "expired:<group>" joins the deal's outbox: every paid member's refund, published once to the
-- refunds stream by livehub.store.groups.
-- All keys share the deal's hash tag {group:<deal>}.
-- KEYS[1] counts (hash): open, expired
-- KEYS[2] groups left to start (integer)
-- KEYS[3] deadlines of open groups (sorted set)
-- KEYS[4] the deal's outbox (sorted set)
-- KEYS[5..] the candidate groups (hashes), as read from the deadlines by the caller
-- ARGV[1] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[2..] the candidates' group ids, in KEYS order
-- Returns the group ids this call expired (list)

local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local expired = {}
for i = 5, #KEYS do
  local gid = ARGV[i - 3]
  local g = redis.call('HMGET', KEYS[i], 'state', 'deadline_ms')
  if g[1] == 'open' then
    if tonumber(g[2]) < now then
      redis.call('HSET', KEYS[i], 'state', 'expired', 'settled_at_ms', now)
      redis.call('INCR', KEYS[2])
      redis.call('HINCRBY', KEYS[1], 'open', -1)
      redis.call('HINCRBY', KEYS[1], 'expired', 1)
      redis.call('ZREM', KEYS[3], gid)
      redis.call('ZADD', KEYS[4], now, 'expired:' .. gid)
      expired[#expired + 1] = gid
    end
  else
    redis.call('ZREM', KEYS[3], gid)  -- completed, expired or gone: not a candidate any more
  end
end
return expired
