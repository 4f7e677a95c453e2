-- pay.lua: a paid reservation becomes exactly one order (idempotent), unless its deadline has passed.
-- The reservation's state moves reserved -> paid here and reserved -> expired in expire.lua, each
-- checked and changed atomically, so a payment racing the expiry has exactly one winner.
-- All keys share the sale's hash tag {sale:<id>}.
-- KEYS[1] the reservation (hash)
-- KEYS[2] sale spec (hash): venue, brand, sku
-- KEYS[3] sale counts (hash): reserved, sold
-- KEYS[4] deadlines (sorted set)
-- KEYS[5] events (stream)
-- KEYS[6] the order (hash), written once
-- KEYS[7] outbox (sorted set): "paid:<reservation id>" -> ms, the follow-ups outside this slot
--         (orders stream, store index, guide credit, store hold, coupon) until they are done
-- ARGV[1] reservation id
-- ARGV[2] order id (derived from the reservation id)
-- ARGV[3] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[4] events stream MAXLEN (approximate trimming)
-- ARGV[5] payment reference from the payment provider (may be "")
-- ARGV[6] retention (ms): the paid reservation and its order expire at ends_at_ms + reservation_ttl_s
--         + retention, when the whole sale's keys do (retire.lua)
-- Returns {code, detail}:
--   "paid": detail = the new order as a flat field/value list
--   "duplicate": already paid; detail = the same order
--   "expired": the deadline passed (the stock goes or went back; a real provider must refund)
--   "not_found": no such reservation

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found', ''}
end
local r = redis.call('HMGET', KEYS[1], 'state', 'deadline_ms', 'qty')
if r[1] == 'paid' then
  return {'duplicate', redis.call('HGETALL', KEYS[6])}
end
if r[1] ~= 'reserved' then
  return {'expired', ''}
end
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if now > tonumber(r[2]) then
  return {'expired', ''}
end

local qty = tonumber(r[3])
redis.call('HSET', KEYS[1], 'state', 'paid', 'order_id', ARGV[2], 'paid_at_ms', now)
redis.call('HINCRBY', KEYS[3], 'reserved', -qty)
redis.call('HINCRBY', KEYS[3], 'sold', qty)
redis.call('ZREM', KEYS[4], ARGV[1])

local spec = redis.call('HMGET', KEYS[2], 'sale_id', 'venue', 'brand', 'sku')
local f = redis.call('HMGET', KEYS[1], 'user', 'unit_price_cents', 'subtotal_cents', 'discount_cents',
  'amount_cents', 'coupon_id', 'mode', 'store_id', 'distance_km', 'fallback', 'guide_id', 'guide_store')
redis.call('HSET', KEYS[6],
  'order_id', ARGV[2], 'reservation_id', ARGV[1], 'sale_id', spec[1], 'venue', spec[2], 'brand', spec[3],
  'sku', spec[4], 'user', f[1], 'qty', qty, 'unit_price_cents', f[2], 'subtotal_cents', f[3],
  'discount_cents', f[4], 'amount_cents', f[5], 'coupon_id', f[6], 'mode', f[7] or 'delivery',
  'store_id', f[8] or '', 'distance_km', f[9] or '', 'fallback', f[10] or '0', 'guide_id', f[11],
  'guide_store', f[12], 'payment_ref', ARGV[5], 'created_at_ms', now)
local window = redis.call('HMGET', KEYS[2], 'ends_at_ms', 'reservation_ttl_s')
local keep_until = tonumber(window[1]) + tonumber(window[2]) * 1000 + tonumber(ARGV[6])
local keep_ms = math.max(keep_until - now, 1)  -- relative to the script's clock (server TIME but in tests)
redis.call('PEXPIRE', KEYS[1], keep_ms)
redis.call('PEXPIRE', KEYS[6], keep_ms)
redis.call('ZADD', KEYS[7], now, 'paid:' .. ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'type', 'paid', 'reservation_id', ARGV[1],
  'order_id', ARGV[2], 'qty', qty, 'ts', now)
return {'paid', redis.call('HGETALL', KEYS[6])}
