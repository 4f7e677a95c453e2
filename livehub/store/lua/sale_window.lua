-- sale_window.lua: start a sale now or end it now, by server time.
-- KEYS[1] sale spec (hash): starts_at_ms, ends_at_ms; hash tag {sale:<id>}
-- ARGV[1] "start" | "end"
-- ARGV[2] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- start: opens the window now if it has not opened yet ("ended" if it has closed already).
-- end: closes the window now if it is still open or scheduled (a scheduled sale gets an empty window).
-- Returns {code, starts_at_ms, ends_at_ms}; codes: ok ended not_found

local w = redis.call('HMGET', KEYS[1], 'starts_at_ms', 'ends_at_ms')
if not w[1] then
  return {'not_found', 0, 0}
end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local starts, ends = tonumber(w[1]), tonumber(w[2])
if ARGV[1] == 'start' then
  if now >= ends then
    return {'ended', starts, ends}
  end
  if now < starts then
    starts = now
  end
else
  if now < ends then
    ends = now
  end
  if starts > ends then
    starts = ends
  end
end
redis.call('HSET', KEYS[1], 'starts_at_ms', starts, 'ends_at_ms', ends)
return {'ok', starts, ends}
