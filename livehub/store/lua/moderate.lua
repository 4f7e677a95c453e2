-- moderate.lua: one moderation action, atomically: its state change, its audit entry and its
-- backplane message (every node's view of the moderation state, or a room's deletion frame).
--
-- KEYS[1]  once marker {mod}:once:<actor>:<request id> (string; only looked at when ARGV[7] > 0)
-- KEYS[2]  the action's state: {mod}:mutes (zset "venue|user" -> until ms), {mod}:bans (zset user ->
--          until ms), {mod}:slow (hash venue -> interval s) or, for a delete, the comment's marker
--          {mod}:deleted:<venue>:<comment> (string)
-- KEYS[3]  the audit log {mod}:audit (stream, trimmed with MAXLEN ~)
-- ARGV[1]  action: delete | mute | unmute | ban | unban | slow
-- ARGV[2]  venue ("" for a ban / unban)
-- ARGV[3]  target: the user, or for a delete the comment id
-- ARGV[4]  mute / ban: duration (ms); slow: interval (s), 0 = off; else ignored
-- ARGV[5]  the most mutes (bans) active at once
-- ARGV[6]  the audit log's length (approximate MAXLEN)
-- ARGV[7]  the once marker's ttl (ms); 0: the request has no id (no marker)
-- ARGV[8]  pub/sub channel of the backplane message
-- ARGV[9]  the backplane message's key (livehub.protocol.events volatile envelope)
-- ARGV[10] delete: the deletion frame (JSON); else ignored (the message is built here)
-- ARGV[11] who acts (token subject), ARGV[12] their role
-- ARGV[13] a deleted comment's marker ttl (ms)
-- Returns  {status, now ms, until ms (0: none), audit entry id}; status "ok", "duplicate" (the same
--          request id or comment again: nothing changed, the first answer), "full" (no room: nothing changed)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local action, venue, target = ARGV[1], ARGV[2], ARGV[3]
local once_ttl = tonumber(ARGV[7])

if once_ttl > 0 then
  local first = redis.call('GET', KEYS[1])
  if first then
    local at, untl, id = string.match(first, '^(%d+)|(%d+)|(.*)$')
    return {'duplicate', tonumber(at), tonumber(untl), id}
  end
end

local untl = 0
local message = nil
if action == 'delete' then
  if not redis.call('SET', KEYS[2], ARGV[11], 'NX', 'PX', ARGV[13]) then
    return {'duplicate', now, 0, ''}
  end
  message = ARGV[10]
elseif action == 'mute' or action == 'ban' then
  local member = target
  if action == 'mute' then member = venue .. '|' .. target end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if not redis.call('ZSCORE', KEYS[2], member) and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
    return {'full', now, 0, ''}
  end
  untl = now + tonumber(ARGV[4])
  redis.call('ZADD', KEYS[2], untl, member)
  message = cjson.encode({action = action, venue = venue, user = target, ['until'] = untl})
elseif action == 'unmute' or action == 'unban' then
  local member = target
  if action == 'unmute' then member = venue .. '|' .. target end
  redis.call('ZREM', KEYS[2], member)
  message = cjson.encode({action = action, venue = venue, user = target})
elseif action == 'slow' then
  local interval = tonumber(ARGV[4])
  if interval > 0 then
    redis.call('HSET', KEYS[2], venue, interval)
  else
    redis.call('HDEL', KEYS[2], venue)
  end
  message = cjson.encode({action = action, venue = venue, interval = interval})
else
  return redis.error_reply('unknown moderation action ' .. action)
end

local fields = {'at', now, 'by', ARGV[11], 'role', ARGV[12], 'action', action, 'venue', venue, 'target', target}
if untl > 0 then
  table.insert(fields, 'until')
  table.insert(fields, untl)
end
if action == 'slow' then
  table.insert(fields, 'interval')
  table.insert(fields, ARGV[4])
end
local id = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], '*', unpack(fields))
redis.call('PUBLISH', ARGV[8], 'V' .. ARGV[9] .. ' ' .. message)
if once_ttl > 0 then
  redis.call('SET', KEYS[1], now .. '|' .. untl .. '|' .. id, 'PX', once_ttl)
end
return {'ok', now, untl, id}
