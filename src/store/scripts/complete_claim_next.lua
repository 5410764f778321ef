-- Finishes a desk task held under a current lease, then leases the first incident of the same
-- desk's queue to `dispatcher`: a dispatcher working a queue, in one round trip.
-- KEYS[1] leases   KEYS[2] the desk's queue
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 token, 5 outcome, 6 retention s, 7 event cap, 8 audit cap,
--       9 who acts ("" for the lease holder), 10 '1' when only the holder may act,
--       11 dispatcher of the next lease, 12 lease ms, 13 '1' for the whole next incident
-- Returns {} when the queue is empty after the completion, else what lease_task returns
local P, desk, now = ARGV[1], ARGV[3], now_ms()
local _, err = complete_task(P, KEYS[1], ARGV[2], desk, ARGV[4], ARGV[5], ARGV[6], ARGV[7],
  ARGV[8], ARGV[9], ARGV[10], now)
if err then return err end
local top = redis.call('ZPOPMIN', KEYS[2])
if #top == 0 then return {} end
return lease_task(P, top[1], desk, ARGV[11], ARGV[12], now, ARGV[7], ARGV[8], 'claim next', ARGV[13])
