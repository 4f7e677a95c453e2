-- guide_attribute.lua: a user's lasting guide attribution, first touch: the first share code a
-- user presents holds for its time to live; a later code takes over only once it has expired.
-- KEYS[1] the user's attribution (string: guide id), under {user:<id>}
-- ARGV[1] the guide id of the share code presented now, or "" to only read the attribution
-- ARGV[2] time to live (seconds) of a new attribution (an existing one keeps its own)
-- Returns the guide id the user is attributed to now: the earlier one, or ARGV[1] when it took
-- ("" when only reading and there is none)

local current = redis.call('GET', KEYS[1])
if current then
  return current
end
if ARGV[1] == '' then
  return ''
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
