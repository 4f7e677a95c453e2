-- presale_deposit.lua: place one pre-sale deposit, atomically: idempotency, deposit window, quantity,
-- per-user limit, stock; then take the units, record the deposit (deposit_due) with its payment
-- deadline and append a "deposited" event.
-- All keys share the pre-sale's hash tag {presale:<id>}.
-- KEYS[1]  pre-sale spec (hash)
-- KEYS[2]  pre-sale stock (integer): units available
-- KEYS[3]  counts (hash): units per deposit state
-- KEYS[4]  per-user held units (hash): user -> deposit_due + balance_due + completed units
-- KEYS[5]  deposit deadlines (sorted set): deposit id -> deposit payment deadline (unix ms)
-- KEYS[6]  events (stream)
-- KEYS[7]  this request's deposit (hash); its id is derived from (user, request id): the idempotency record
-- ARGV[1]  user id
-- ARGV[2]  request id
-- ARGV[3]  deposit id
-- ARGV[4]  qty
-- ARGV[5]  now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[6]  events stream MAXLEN (approximate trimming)
-- ARGV[7]  buyer's latitude, or "" (kept to route the order when the balance is paid)
-- ARGV[8]  buyer's longitude, or ""
-- ARGV[9]  chosen pickup store id, or ""
-- Returns {code, available, detail}:
--   "ok" / "duplicate": detail = the deposit hash as a flat field/value list
--   "not_started": detail = deposit_starts_at_ms;  every other code: detail = ""
--   codes: ok duplicate not_found not_started ended bad_quantity limit_reached sold_out bad_request

local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local available = tonumber(redis.call('GET', KEYS[2]) or '0')

if redis.call('EXISTS', KEYS[7]) == 1 then
  local owner = redis.call('HMGET', KEYS[7], 'user', 'request_id')
  if owner[1] ~= ARGV[1] or owner[2] ~= ARGV[2] then
    return {'bad_request', available, ''}
  end
  return {'duplicate', available, redis.call('HGETALL', KEYS[7])}
end

local spec = redis.call('HMGET', KEYS[1], 'deposit_starts_at_ms', 'deposit_ends_at_ms', 'per_user_limit',
                        'deposit_cents', 'price_cents', 'deposit_ttl_s')
if not spec[1] then
  return {'not_found', 0, ''}
end
if now < tonumber(spec[1]) then
  return {'not_started', available, tonumber(spec[1])}
end
if now >= tonumber(spec[2]) then
  return {'ended', available, ''}
end
local limit = tonumber(spec[3])
local qty = tonumber(ARGV[4])
if not qty or qty < 1 or qty > limit or qty ~= math.floor(qty) then
  return {'bad_quantity', available, ''}
end
local held = tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0')
if held + qty > limit then
  return {'limit_reached', available, ''}
end
if available < qty then
  return {'sold_out', available, ''}
end

available = redis.call('DECRBY', KEYS[2], qty)
redis.call('HINCRBY', KEYS[3], 'deposit_due', qty)
redis.call('HINCRBY', KEYS[4], ARGV[1], qty)
local deposit, price = tonumber(spec[4]), tonumber(spec[5])
local deadline = now + tonumber(spec[6]) * 1000
redis.call('HSET', KEYS[7],
  'deposit_id', ARGV[3], 'user', ARGV[1], 'request_id', ARGV[2], 'state', 'deposit_due', 'qty', qty,
  'deposit_cents', deposit * qty, 'balance_cents', (price - deposit) * qty, 'unit_price_cents', price,
  'created_at_ms', now, 'deadline_ms', deadline, 'lat', ARGV[7], 'lon', ARGV[8], 'pickup_store', ARGV[9])
redis.call('ZADD', KEYS[5], deadline, ARGV[3])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'type', 'deposited', 'deposit_id', ARGV[3],
  'user', ARGV[1], 'qty', qty, 'available', available, 'ts', now)
return {'ok', available, redis.call('HGETALL', KEYS[7])}
