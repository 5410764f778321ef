-- Finishes a desk task held under a current lease. When every desk has finished, the incident
-- expires after the retention period.
-- KEYS[1] leases
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 outcome, 6 retention s, 7 event cap, 8 audit cap,
--       9 who acts ("" for the lease holder), 10 '1' when only the holder may act
-- Returns HGETALL of the incident
local P, ref, desk = ARGV[1], ARGV[2], ARGV[3]
local inc, err = check_lease(P, ref, desk, ARGV[4], ARGV[9], ARGV[10])
if err then return err end
local now = now_ms()
local who = ARGV[9] ~= '' and ARGV[9] or redis.call('HGET', inc, 't:' .. desk .. ':by')
redis.call('HSET', inc, 't:' .. desk .. ':state', 'completed', 't:' .. desk .. ':outcome', ARGV[5],
  'updated', now)
redis.call('HDEL', inc, 't:' .. desk .. ':token', 't:' .. desk .. ':exp')
redis.call('ZREM', KEYS[1], ref .. '|' .. desk)
local open = false
for d in string.gmatch(redis.call('HGET', inc, 'desks'), '[^,]+') do
  if redis.call('HGET', inc, 't:' .. d .. ':state') ~= 'completed' then open = true end
end
if not open then redis.call('EXPIRE', inc, ARGV[6]) end
event(P, desk, ARGV[7], 'completed', ref, 'by', who, 'outcome', ARGV[5])
audit(P, ARGV[8], 'completed', ref, who, ARGV[5], 'desk', desk)
return redis.call('HGETALL', inc)
