-- presale_balance.lua: a paid balance moves balance_due -> completed and writes the deposit's one
-- order (idempotent), inside the balance window only.  The fulfilment (the store the order was
-- routed to, its units already held by store_take.lua) is recorded in the same step.
-- presale_sweep.lua moves balance_due -> forfeited | refunded at the window's end, atomically, so a
-- late payment racing the sweeper has exactly one winner.
-- All keys share the pre-sale's hash tag {presale:<id>}.
-- KEYS[1] the deposit (hash)
-- KEYS[2] pre-sale spec (hash): presale_id, venue, brand, sku, balance window, unpaid rule
-- KEYS[3] counts (hash)
-- KEYS[4] balances due (sorted set)
-- KEYS[5] events (stream)
-- KEYS[6] the order (hash), written once
-- KEYS[7] outbox (sorted set): "completed:<deposit id>" -> ms until the order is published
-- ARGV[1] deposit id
-- ARGV[2] order id (derived from the deposit id)
-- ARGV[3] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[4] events stream MAXLEN (approximate trimming)
-- ARGV[5] payment reference of the balance payment (may be "")
-- ARGV[6..9] fulfilment: mode ("delivery" | "pickup"), store id or "", distance km or "", fallback "0" | "1"
-- ARGV[10] retention (ms): the deposit and its order expire at balance_ends_at_ms + retention
-- ARGV[11] the store hold id this payment's units are held under ("<deposit id>#<nonce>"), or "" (none)
-- Returns {code, detail}:
--   "paid" / "duplicate": detail = the order as a flat field/value list
--   "not_started": detail = balance_starts_at_ms
--   "deposit_due" | "lapsed" | "forfeited" | "refunded" | "not_found": detail = ""

if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'not_found', ''}
end
local r = redis.call('HMGET', KEYS[1], 'state', 'qty', 'deadline_ms')
if r[1] == 'completed' then
  return {'duplicate', redis.call('HGETALL', KEYS[6])}
end
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if r[1] == 'deposit_due' then
  if now > tonumber(r[3]) then
    return {'lapsed', ''}
  end
  return {'deposit_due', ''}
end
if r[1] ~= 'balance_due' then
  return {r[1], ''}
end
local spec = redis.call('HMGET', KEYS[2], 'balance_starts_at_ms', 'balance_ends_at_ms', 'unpaid',
  'presale_id', 'venue', 'brand', 'sku')
if now < tonumber(spec[1]) then
  return {'not_started', tonumber(spec[1])}
end
if now >= tonumber(spec[2]) then
  if spec[3] == 'refund' then
    return {'refunded', ''}
  end
  return {'forfeited', ''}
end

local qty = tonumber(r[2])
redis.call('HSET', KEYS[1], 'state', 'completed', 'order_id', ARGV[2], 'balance_paid_at_ms', now,
  'balance_ref', ARGV[5], 'mode', ARGV[6], 'store_id', ARGV[7], 'distance_km', ARGV[8], 'fallback', ARGV[9],
  'hold_id', ARGV[11])
redis.call('HINCRBY', KEYS[3], 'balance_due', -qty)
redis.call('HINCRBY', KEYS[3], 'completed', qty)
redis.call('ZREM', KEYS[4], ARGV[1])
local f = redis.call('HMGET', KEYS[1], 'user', 'unit_price_cents', 'deposit_cents', 'balance_cents')
local total = tonumber(f[3]) + tonumber(f[4])
redis.call('HSET', KEYS[6],
  'order_id', ARGV[2], 'reservation_id', ARGV[1], 'sale_id', spec[4], 'venue', spec[5], 'brand', spec[6],
  'sku', spec[7], 'user', f[1], 'qty', qty, 'unit_price_cents', f[2], 'subtotal_cents', total,
  'discount_cents', 0, 'amount_cents', total, 'deposit_cents', f[3], 'balance_cents', f[4], 'coupon_id', '',
  'mode', ARGV[6], 'store_id', ARGV[7], 'distance_km', ARGV[8], 'fallback', ARGV[9], 'guide_id', '',
  'guide_store', '', 'payment_ref', ARGV[5], 'created_at_ms', now, 'hold_id', ARGV[11])
local keep_ms = math.max(tonumber(spec[2]) + tonumber(ARGV[10]) - now, 1)
redis.call('PEXPIRE', KEYS[1], keep_ms)
redis.call('PEXPIRE', KEYS[6], keep_ms)
redis.call('ZADD', KEYS[7], now, 'completed:' .. ARGV[1])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], '*', 'type', 'completed', 'deposit_id', ARGV[1],
  'order_id', ARGV[2], 'qty', qty, 'ts', now)
return {'paid', redis.call('HGETALL', KEYS[6])}
