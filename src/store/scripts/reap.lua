-- Returns expired leases to their queues at their original places. Safe to run in every replica
-- at once: each expired lease is requeued by exactly one run.
-- KEYS[1] leases
-- ARGV: 1 prefix, 2 batch size, 3 event cap, 4 audit cap
-- Returns the number requeued
local P = ARGV[1]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local bar = string.find(member, '|', 1, true)
  local ref, desk = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
  local inc = P .. 'inc:' .. ref
  local f = redis.call('HMGET', inc, 't:' .. desk .. ':state', 't:' .. desk .. ':by')
  if f[1] == 'claimed' then
    requeue(P, ref, desk, now)
    event(P, desk, ARGV[3], 'released', ref, 'by', f[2], 'reason', 'lease expired')
    audit(P, ARGV[4], 'lease_expired', ref, f[2], 'lease expired', 'desk', desk)
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return #due
