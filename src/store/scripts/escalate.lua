-- Escalates one desk task whose queue-wait deadline has passed, if it still has: first it moves
-- a grade ahead in its queue, then to the desk's overflow desk, then to the supervisor, who is
-- reminded every target period after that. Safe to run in every replica: a deadline is acted on
-- once.
-- KEYS[1] deadlines
-- ARGV: 1 prefix, 2 member "ref|desk", 3 overflow desk or "", 4 supervisor desk, 5 targets,
--       6 event cap, 7 audit cap
-- Returns the action taken: "", "raised", "overflow", "supervisor" or "reminder"
local P, member, overflow, supervisor, targets = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
local due = redis.call('ZSCORE', KEYS[1], member)
if not due or tonumber(due) > now then return '' end
local bar = string.find(member, '|', 1, true)
local ref, desk = string.sub(member, 1, bar - 1), string.sub(member, bar + 1)
local inc = P .. 'inc:' .. ref
if redis.call('HGET', inc, 't:' .. desk .. ':state') ~= 'queued' then
  redis.call('ZREM', KEYS[1], member)
  return ''
end
local f = redis.call('HMGET', inc, 'grade', 'seq', 't:' .. desk .. ':esc')
local grade, seq, step = tonumber(f[1]), f[2], tonumber(f[3] or '0')
local target = target_ms(targets, grade)
local action, to
if step == 0 and grade > 1 then
  action = 'raised'
  local score = score_of(grade - 1, seq)
  redis.call('ZADD', P .. 'q:' .. desk, score, ref)
  redis.call('HSET', inc, 't:' .. desk .. ':score', score, 't:' .. desk .. ':esc', 1)
  redis.call('ZADD', KEYS[1], fmt_int(now + target), member)
elseif step <= 1 and overflow ~= '' and overflow ~= desk then
  action, to = 'overflow', overflow
elseif desk ~= supervisor then
  action, to = 'supervisor', supervisor
else
  action = 'reminder'
  redis.call('ZADD', KEYS[1], fmt_int(now + target), member)
end
if to then
  move_task(P, ref, desk, to, now, targets, action == 'overflow' and 2 or 3)
  event(P, to, ARGV[6], 'escalated', ref, 'action', action, 'from', desk, 'grade', f[1])
end
event(P, desk, ARGV[6], 'escalated', ref, 'action', action, 'grade', f[1], 'to', to or desk)
audit(P, ARGV[7], 'escalated', ref, 'sweeper', 'queue-wait target of grade ' .. f[1] .. ' passed',
  'step', action, 'desk', desk, 'to', to or desk)
return action
