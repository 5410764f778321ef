-- Finishes a desk task held under a current lease. When every desk has finished, the incident
-- expires after the retention period.
-- KEYS[1] leases
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 outcome, 6 retention s, 7 event cap, 8 audit cap,
--       9 who acts ("" for the lease holder), 10 '1' when only the holder may act
-- Returns HGETALL of the incident
local inc, err = complete_task(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6],
  ARGV[7], ARGV[8], ARGV[9], ARGV[10], now_ms())
if err then return err end
return redis.call('HGETALL', inc)
