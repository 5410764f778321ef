-- Leases the first incident of a desk's queue (grade, then arrival) to a dispatcher.
-- KEYS[1] queue   KEYS[2] queue by time   KEYS[3] leases   KEYS[4] fencing counter   KEYS[5] deadlines
-- ARGV: 1 prefix, 2 desk, 3 dispatcher, 4 lease ms, 5 event cap, 6 audit cap
-- Returns {} when the queue is empty, else {token, expires ms, HGETALL of the incident}
local P, desk = ARGV[1], ARGV[2]
local top = redis.call('ZPOPMIN', KEYS[1])
if #top == 0 then return {} end
local ref = top[1]
local inc = P .. 'inc:' .. ref
local now = now_ms()
local token = redis.call('INCR', KEYS[4])
local exp = now + tonumber(ARGV[4])
redis.call('ZREM', KEYS[2], ref)
redis.call('ZREM', KEYS[5], ref .. '|' .. desk)
redis.call('ZADD', KEYS[3], exp, ref .. '|' .. desk)
redis.call('HSET', inc, 't:' .. desk .. ':state', 'claimed', 't:' .. desk .. ':token', token,
  't:' .. desk .. ':by', ARGV[3], 't:' .. desk .. ':exp', exp, 'updated', now)
event(P, desk, ARGV[5], 'claimed', ref, 'by', ARGV[3])
audit(P, ARGV[6], 'claimed', ref, ARGV[3], 'claim next', 'desk', desk, 'token', token)
return {token, exp, redis.call('HGETALL', inc)}
