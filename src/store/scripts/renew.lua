-- Extends a current lease.
-- KEYS[1] leases
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 lease ms, 6 audit cap,
--       7 who acts ("" for the lease holder), 8 '1' when only the holder may act
-- Returns {expires ms, dispatcher}
local P, ref, desk = ARGV[1], ARGV[2], ARGV[3]
local inc, err = check_lease(P, ref, desk, ARGV[4], ARGV[7], ARGV[8])
if err then return err end
local exp = now_ms() + tonumber(ARGV[5])
redis.call('HSET', inc, 't:' .. desk .. ':exp', exp)
redis.call('ZADD', KEYS[1], exp, ref .. '|' .. desk)
local holder = redis.call('HGET', inc, 't:' .. desk .. ':by')
audit(P, ARGV[6], 'renewed', ref, ARGV[7] ~= '' and ARGV[7] or holder, 'lease renewed', 'desk', desk)
return {exp, holder}
