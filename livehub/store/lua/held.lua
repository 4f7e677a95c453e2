-- held.lua: does this buy request already hold a reservation?  The admission gate's check of an
-- attempt it would shed (sold-out flag or busy): a retry whose first answer was lost must still
-- get its reservation ("duplicate", from buy.lua), a new attempt is shed without buy.lua.
-- A script (not a plain EXISTS) so that it travels in the batcher's pipelines like the buys.
-- KEYS[1]  the request's reservation (hash); its id is derived from (sale, user, request id)
-- ARGV[1]  (none)
-- Returns 1 if it exists, else 0.
return redis.call('EXISTS', KEYS[1])
