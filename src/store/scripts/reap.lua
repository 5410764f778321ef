-- Returns expired leases to their queues at their original places; a task whose lease has
-- expired `max` times goes to the supervisor instead. Safe to run in every replica at once:
-- each expired lease is handled by exactly one run.
-- KEYS[1] leases
-- ARGV: 1 prefix, 2 batch size, 3 max expiries, 4 supervisor desk, 5 targets, 6 event cap,
--       7 audit cap
-- Returns the number handled
local P = ARGV[1]
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local bar = string.find(member, '|', 1, true)
  local ref, desk = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
  local inc = P .. 'inc:' .. ref
  local f = redis.call('HMGET', inc, 't:' .. desk .. ':state', 't:' .. desk .. ':by')
  if f[1] == 'claimed' then
    local n = redis.call('HINCRBY', inc, 't:' .. desk .. ':expiries', 1)
    if n >= tonumber(ARGV[3]) and desk ~= ARGV[4] then
      move_task(P, ref, desk, ARGV[4], now, ARGV[5], 3)
      event(P, desk, ARGV[6], 'escalated', ref, 'action', 'supervisor', 'reason', 'lease expired ' .. n .. ' times')
      event(P, ARGV[4], ARGV[6], 'escalated', ref, 'action', 'supervisor', 'from', desk, 'reason', 'lease expired ' .. n .. ' times')
      audit(P, ARGV[7], 'lease_expired', ref, f[2], 'lease expired ' .. n .. ' times: to the supervisor', 'desk', desk)
    else
      requeue(P, ref, desk, now)
      event(P, desk, ARGV[6], 'released', ref, 'by', f[2], 'reason', 'lease expired')
      audit(P, ARGV[7], 'lease_expired', ref, f[2], 'lease expired', 'desk', desk)
    end
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return #due
