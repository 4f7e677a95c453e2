-- pickup_verify.lua: store staff verify a buyer's pickup code at hand-over (核销): the order is
-- picked up once; a second verify of the same code answers "already_picked_up".  Wrong codes are
-- counted per store in a window; past the limit every verify at the store is refused until the
-- window ends (a guesser cannot tell a right code from a wrong one then).
-- All keys share the store's hash tag {store:<id>}.
-- KEYS[1] the store's pickup codes (hash code -> order id)
-- KEYS[2] the store's pickups (hash order id -> "<code>" | "<code>|<picked up ms>|<staff>")
-- KEYS[3] wrong codes in the current window (integer with a TTL)
-- KEYS[4] the store's audit stream
-- ARGV[1] the code
-- ARGV[2] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[3] the staff member's id
-- ARGV[4] wrong codes allowed per window
-- ARGV[5] the window (ms)
-- ARGV[6] audit stream MAXLEN (approximate trimming)
-- Returns {outcome, order id, picked up ms, staff}:
--   "picked_up": this call handed the order over;  "already_picked_up": handed over before (when, by whom)
--   "not_found": no such code at this store (counted);  "rate_limited": order id "" and ms = the window's
--   remaining ms

local now = tonumber(ARGV[2])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local misses = tonumber(redis.call('GET', KEYS[3]) or '0')
if misses >= tonumber(ARGV[4]) then
  return {'rate_limited', '', math.max(redis.call('PTTL', KEYS[3]), 1), ''}
end
local order = redis.call('HGET', KEYS[1], ARGV[1])
if not order then
  if redis.call('INCR', KEYS[3]) == 1 then
    redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]))
  end
  return {'not_found', '', 0, ''}
end
local state = redis.call('HGET', KEYS[2], order) or ARGV[1]
local code, at, who = string.match(state, '^([^|]*)|(%d+)|(.*)$')
if code then
  return {'already_picked_up', order, tonumber(at), who}
end
redis.call('HSET', KEYS[2], order, ARGV[1] .. '|' .. now .. '|' .. ARGV[3])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'type', 'picked_up', 'order_id', order, 'staff', ARGV[3],
  'ts', now)
return {'picked_up', order, now, ARGV[3]}
