-- Moves a desk task held under a current lease to another desk, keeping its place in the order.
-- KEYS[1] the incident (declared so that a cluster runs the script on the centre's slot)
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 to desk, 6 reason, 7 targets, 8 event cap,
--       9 audit cap, 10 who acts ("" for the lease holder), 11 '1' when only the holder may act
local P, ref, desk, to = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local inc, err = check_lease(P, ref, desk, ARGV[4], ARGV[10], ARGV[11])
if err then return err end
local who = ARGV[10] ~= '' and ARGV[10] or redis.call('HGET', inc, 't:' .. desk .. ':by')
move_task(P, ref, desk, to, now_ms(), ARGV[7], 0)
event(P, desk, ARGV[8], 'transferred_out', ref, 'to', to, 'by', who, 'reason', ARGV[6])
event(P, to, ARGV[8], 'transferred_in', ref, 'from', desk, 'by', who, 'reason', ARGV[6])
audit(P, ARGV[9], 'transferred', ref, who, ARGV[6], 'from', desk, 'to', to)
return redis.call('HGETALL', inc)
