-- buy.lua: one flash-sale buy, atomically: window, idempotency, quantity, per-user limit, stock,
-- coupon minimum spend; then take the stock, record the reservation with its payment deadline
-- and append the "reserved" event to the sale's stream.
-- All keys share the sale's hash tag {sale:<id>}.
-- KEYS[1]  sale spec (hash): starts_at_ms, ends_at_ms, per_user_limit, price_cents, reservation_ttl_s
-- KEYS[2]  sale stock (integer): units available
-- KEYS[3]  sale counts (hash): reserved, sold, expired
-- KEYS[4]  per-user held units (hash): user -> reserved + paid units
-- KEYS[5]  deadlines (sorted set): reservation id -> payment deadline (unix ms)
-- KEYS[6]  events (stream)
-- KEYS[7]  this request's reservation (hash); its id is derived from (user, request id), so it is
--          also the idempotency record
-- KEYS[8]  the users' reservation ids (hash): user -> space-separated reservation ids (this one is
--          appended), which a buyer's "my orders" entry of the sale lists
-- ARGV[1]  user id
-- ARGV[2]  request id (the client's idempotency key)
-- ARGV[3]  reservation id
-- ARGV[4]  qty
-- ARGV[5]  now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[6]  events stream MAXLEN (approximate trimming)
-- ARGV[7]  coupon id, or "" (the coupon is already locked for this reservation by coupon_lock.lua)
-- ARGV[8]  coupon value off (cents)
-- ARGV[9]  coupon minimum spend (cents)
-- ARGV[10] guide id credited by this buy, or ""
-- ARGV[11] the guide's store id, or ""
-- ARGV[12] "1": record warehouse delivery as the fulfilment now (no location and no chosen store, so
--          there is nothing to route); "0": the caller routes the order and records it afterwards
-- Returns {code, available, detail}:
--   "ok": detail = {unit price (cents), discount (cents), created_at_ms, deadline_ms}: the caller
--         knows every other field of the new reservation (it passed them)
--   "duplicate": detail = the first request's reservation hash as a flat field/value list
--   "not_started": detail = starts_at_ms;  "coupon_invalid": detail = "min_spend" (the subtotal is below the
--   coupon's minimum spend);  every other code: detail = ""
--   codes: ok duplicate not_found not_started ended bad_quantity limit_reached sold_out
--          coupon_invalid bad_request (a reservation id shared by two requests: never expected)

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

local spec = redis.call('HMGET', KEYS[1], 'starts_at_ms', 'ends_at_ms', 'per_user_limit', 'price_cents',
                        'reservation_ttl_s')
if not spec[1] then
  return {'not_found', 0, ''}
end
local starts, ends = tonumber(spec[1]), tonumber(spec[2])
local limit, price, ttl_s = tonumber(spec[3]), tonumber(spec[4]), tonumber(spec[5])
if now < starts then
  return {'not_started', available, starts}
end
if now >= ends then
  return {'ended', available, ''}
end
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
local subtotal = price * qty
local discount = 0
if ARGV[7] ~= '' then
  if subtotal < tonumber(ARGV[9]) then
    return {'coupon_invalid', available, 'min_spend'}
  end
  discount = math.min(tonumber(ARGV[8]), subtotal)
end

available = redis.call('DECRBY', KEYS[2], qty)
redis.call('HINCRBY', KEYS[3], 'reserved', qty)
redis.call('HINCRBY', KEYS[4], ARGV[1], qty)
local deadline = now + ttl_s * 1000
redis.call('HSET', KEYS[7],
  'reservation_id', ARGV[3], 'user', ARGV[1], 'request_id', ARGV[2], 'state', 'reserved',
  'qty', qty, 'unit_price_cents', price, 'subtotal_cents', subtotal, 'discount_cents', discount,
  'amount_cents', subtotal - discount, 'coupon_id', ARGV[7], 'guide_id', ARGV[10], 'guide_store', ARGV[11],
  'created_at_ms', now, 'deadline_ms', deadline)
if ARGV[12] == '1' then
  redis.call('HSET', KEYS[7], 'mode', 'delivery', 'store_id', '', 'distance_km', '', 'fallback', '0')
end
redis.call('ZADD', KEYS[5], deadline, ARGV[3])
local mine = redis.call('HGET', KEYS[8], ARGV[1])
redis.call('HSET', KEYS[8], ARGV[1], mine and (mine .. ' ' .. ARGV[3]) or ARGV[3])
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[6], '*', 'type', 'reserved', 'reservation_id', ARGV[3],
  'user', ARGV[1], 'qty', qty, 'available', available, 'ts', now)
return {'ok', available, {price, discount, now, deadline}}
