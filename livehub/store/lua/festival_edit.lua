-- festival_edit.lua: store one batch of admin edits (whole records) and bump the overlay's version, once per request.
-- KEYS[1] the overlay (hash "<section>:<record id>" -> the record's JSON), hash tag {festival:<id>}
-- KEYS[2] the overlay's version (integer; absent: 0)
-- KEYS[3] the request's once-marker (string: the version the request made)
-- ARGV[1] the version the batch was validated against
-- ARGV[2] the once-marker's ttl (s)
-- ARGV[3..] field, value, field, value, ...
-- Returns {status, version}: 1 applied (the new version); 0 applied before by this request (the
-- version it made); -1 the overlay changed since ARGV[1], nothing written (the current version)

local done = redis.call('GET', KEYS[3])
if done then
  return {0, tonumber(done)}
end
local version = tonumber(redis.call('GET', KEYS[2]) or '0')
if version ~= tonumber(ARGV[1]) then
  return {-1, version}
end
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
version = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[3], version, 'EX', tonumber(ARGV[2]))
return {1, version}
