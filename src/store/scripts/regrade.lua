-- Changes an incident's grade, audited; queued tasks move to their place for the new grade.
-- KEYS[1] the incident (declared so that a cluster runs the script on the centre's slot)
-- ARGV: 1 prefix, 2 reference, 3 grade, 4 who, 5 reason, 6 targets, 7 event cap, 8 audit cap
local P, ref = ARGV[1], ARGV[2]
local inc = P .. 'inc:' .. ref
if redis.call('EXISTS', inc) == 0 then
  return fail('BL_NOT_FOUND', 'incident ' .. ref .. ' does not exist')
end
local old = redis.call('HGET', inc, 'grade')
set_grade(P, ref, ARGV[3], now_ms(), ARGV[6])
for _, d in ipairs(desk_list(inc)) do
  event(P, d, ARGV[7], 'regraded', ref, 'from', old, 'grade', ARGV[3], 'by', ARGV[4], 'reason', ARGV[5])
end
audit(P, ARGV[8], 'regraded', ref, ARGV[4], ARGV[5], 'from', old, 'to', ARGV[3])
return redis.call('HGETALL', inc)
