-- Gives a desk task held under a current lease back to its queue, at its original place.
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 reason, 6 event cap, 7 audit cap,
--       8 who acts ("" for the lease holder), 9 '1' when only the holder may act
local P, ref, desk = ARGV[1], ARGV[2], ARGV[3]
local inc, err = check_lease(P, ref, desk, ARGV[4], ARGV[8], ARGV[9])
if err then return err end
local who = ARGV[8] ~= '' and ARGV[8] or redis.call('HGET', inc, 't:' .. desk .. ':by')
requeue(P, ref, desk, now_ms())
event(P, desk, ARGV[6], 'released', ref, 'by', who, 'reason', ARGV[5])
audit(P, ARGV[7], 'released', ref, who, ARGV[5], 'desk', desk)
return 1
