-- Leases the first incident of a desk's queue (grade, then arrival) to a dispatcher.
-- KEYS[1] queue
-- ARGV: 1 prefix, 2 desk, 3 dispatcher, 4 lease ms, 5 event cap, 6 audit cap, 7 '1' for the
--       whole incident
-- Returns {} when the queue is empty, else what lease_task returns
local top = redis.call('ZPOPMIN', KEYS[1])
if #top == 0 then return {} end
return lease_task(ARGV[1], top[1], ARGV[2], ARGV[3], ARGV[4], now_ms(), ARGV[5], ARGV[6], 'claim next', ARGV[7])
