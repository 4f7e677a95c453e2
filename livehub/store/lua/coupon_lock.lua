-- coupon_lock.lua: lock one of the user's grabbed coupons for a buy (first step of applying it).
-- The use id is the buy's reservation id, so a retried buy finds its lock again (idempotent).
-- The lock is later settled by coupon_settle.lua: "commit" when the order is paid, "release"
-- (the coupon goes back to the wallet) when the buy fails or the reservation expires.
-- All keys share the drop's hash tag {coupon:<id>}.
-- KEYS[1] coupon spec (hash): value_cents, min_spend_cents, expires_at_ms, brand ("" = any brand),
--         only_guide, only_store ("" or absent: anyone, any fulfilment)
-- KEYS[2] wallet (hash user -> unused coupons)
-- KEYS[3] uses (hash use id -> "locked|used|released:<user>:<ms>")
-- ARGV[1] user id
-- ARGV[2] use id (the reservation id)
-- ARGV[3] now (unix ms), or "" to use the server's TIME (only tests pass a value)
-- ARGV[4] the sale's brand
-- ARGV[5] the guide the buy credits, or ""
-- ARGV[6] the store the buyer picks up at, or "" (none chosen)
-- Returns {code, value_cents, min_spend_cents}
--   codes: ok (locked now), held (already locked for this use by an earlier call), used (this use's
--          order was paid), not_owned (no unused coupon, or the use is another user's), expired,
--          wrong_brand, guide_only (another guide's customers only), store_only (pickup at another
--          store only), not_found

local spec = redis.call('HMGET', KEYS[1], 'value_cents', 'min_spend_cents', 'expires_at_ms', 'brand',
                       'only_guide', 'only_store')
if not spec[1] then
  return {'not_found', 0, 0}
end
local value, min_spend = tonumber(spec[1]), tonumber(spec[2])
if spec[4] ~= '' and spec[4] ~= ARGV[4] then
  return {'wrong_brand', value, min_spend}
end
if spec[5] and spec[5] ~= '' and spec[5] ~= ARGV[5] then
  return {'guide_only', value, min_spend}
end
if spec[6] and spec[6] ~= '' and spec[6] ~= ARGV[6] then
  return {'store_only', value, min_spend}
end
local use = redis.call('HGET', KEYS[3], ARGV[2])
if use then
  local state, user = string.match(use, '^(%a+):(.*):%d+$')
  if user ~= ARGV[1] then
    return {'not_owned', value, min_spend}
  end
  if state == 'locked' then
    return {'held', value, min_spend}
  end
  if state == 'used' then
    return {'used', value, min_spend}
  end
  -- released: lock again below
end
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
if now >= tonumber(spec[3]) then
  return {'expired', value, min_spend}
end
if tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') < 1 then
  return {'not_owned', value, min_spend}
end
redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
redis.call('HSET', KEYS[3], ARGV[2], 'locked:' .. ARGV[1] .. ':' .. now)
return {'ok', value, min_spend}
