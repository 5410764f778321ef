-- Shared helpers, prepended to every bluelight script when it is loaded.
--
-- Key layout (P is the centre prefix "bl:{centre}:"; every key carries the centre's hash tag, so
-- every key a script touches lives in one cluster slot):
--   P.."idem:"..contact_id   string  reference of the incident a contact created or joined
--   P.."inc:"..ref           hash    the incident; task fields "t:<desk>:<field>"
--   P.."q:"..desk            zset    queue: score grade*1e13 + arrival sequence
--   P.."leases"              zset    "ref|desk" by lease expiry (ms)
--   P.."deadlines"           zset    "ref|desk" by escalation deadline (ms)
--   P.."ev:"..desk           stream  desk events, capped
--   P.."audit"               stream  every state change, capped
--   P.."seq", P.."fence"     counters: arrival order, lease fencing tokens
--   P.."day:"..yyyymmdd      counter: incident numbers of the day, expires
--   P.."desks"               hash    desk -> "open" | "closed"
--   P.."ops"                 stream  desk status changes, followed by every replica

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Days since the epoch to a civil date (Howard Hinnant's algorithm), as YYYYMMDD.
local function yyyymmdd(ms)
  local z = math.floor(ms / 86400000) + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d%02d%02d', y, m, d)
end

local function fail(code, message)
  return redis.error_reply(code .. ' ' .. message)
end

local function event(P, desk, maxlen, kind, ref, ...)
  redis.call('XADD', P .. 'ev:' .. desk, 'MAXLEN', '~', maxlen, '*', 'kind', kind, 'ref', ref, ...)
end

local function audit(P, maxlen, action, ref, who, why, ...)
  redis.call('XADD', P .. 'audit', 'MAXLEN', '~', maxlen, '*',
    'action', action, 'ref', ref, 'who', who, 'why', why, ...)
end

local function fmt_int(n)
  return string.format('%d', n)
end

-- Puts a desk task back in its queue at its original place.
local function requeue(P, ref, desk, now)
  local inc = P .. 'inc:' .. ref
  local f = redis.call('HMGET', inc, 't:' .. desk .. ':score', 't:' .. desk .. ':deadline')
  redis.call('ZADD', P .. 'q:' .. desk, f[1], ref)
  redis.call('ZADD', P .. 'deadlines', f[2], ref .. '|' .. desk)
  redis.call('ZREM', P .. 'leases', ref .. '|' .. desk)
  redis.call('HSET', inc, 't:' .. desk .. ':state', 'queued', 'updated', now)
  redis.call('HDEL', inc, 't:' .. desk .. ':token', 't:' .. desk .. ':by', 't:' .. desk .. ':exp')
end

-- Finds a desk task: the incident key and the task's state and holder, or an error reply.
local function find_task(P, ref, desk)
  local inc = P .. 'inc:' .. ref
  local f = redis.call('HMGET', inc, 't:' .. desk .. ':state', 't:' .. desk .. ':token', 't:' .. desk .. ':by')
  if not f[1] then
    if redis.call('EXISTS', inc) == 0 then
      return nil, nil, fail('BL_NOT_FOUND', 'incident ' .. ref .. ' does not exist')
    end
    return nil, nil, fail('BL_NOT_FOUND', 'incident ' .. ref .. ' has no task on desk ' .. desk)
  end
  return inc, f, nil
end

-- Checks that `token` is the current lease on a desk task, and when `must_hold` is '1' that
-- `who` holds it; returns the incident key and the holder, or nil and an error.
local function check_lease(P, ref, desk, token, who, must_hold)
  local inc, f, err = find_task(P, ref, desk)
  if err then return nil, err end
  if f[1] ~= 'claimed' or f[2] ~= token then
    return nil, fail('BL_STALE', 'lease token ' .. token .. ' on ' .. ref .. ' at ' .. desk ..
      ' is not current (task is ' .. f[1] .. '); claim it again')
  end
  if must_hold == '1' and f[3] ~= who then
    return nil, fail('BL_DENIED', 'the lease on ' .. ref .. ' at ' .. desk .. ' is held by ' ..
      f[3] .. ': only its holder, or role supervisor, may act on it')
  end
  return inc, nil, f[3]
end

-- The queue score of an incident: grade first, then arrival.
local function score_of(grade, seq)
  return fmt_int(tonumber(grade) * 1e13 + tonumber(seq))
end

-- "30000,300000,3600000,86400000" -> queue-wait target (ms) of a grade
local function target_ms(targets, grade)
  local i = 0
  for t in string.gmatch(targets, '[^,]+') do
    i = i + 1
    if i == tonumber(grade) then return tonumber(t) end
  end
  return 30000
end

local function desk_list(inc)
  local out = {}
  for d in string.gmatch(redis.call('HGET', inc, 'desks') or '', '[^,]+') do table.insert(out, d) end
  return out
end

-- Finishes a desk task held under a current lease (`who` acts, `must_hold` '1' when only the
-- holder may) at `now`; when every desk has finished, the incident expires after `retention` s.
-- Returns the incident key, or nil and the error.
local function complete_task(P, leases, ref, desk, token, outcome, retention, evcap, aucap, who, must_hold, now)
  local inc, err, holder = check_lease(P, ref, desk, token, who, must_hold)
  if err then return nil, err end
  if who == '' then who = holder end
  redis.call('HSET', inc, 't:' .. desk .. ':state', 'completed', 't:' .. desk .. ':outcome', outcome,
    'updated', now)
  redis.call('HDEL', inc, 't:' .. desk .. ':token', 't:' .. desk .. ':exp')
  redis.call('ZREM', leases, ref .. '|' .. desk)
  local states = {}
  for d in string.gmatch(redis.call('HGET', inc, 'desks'), '[^,]+') do
    table.insert(states, 't:' .. d .. ':state')
  end
  local open = false
  for _, state in ipairs(redis.call('HMGET', inc, unpack(states))) do
    if state ~= 'completed' then open = true end
  end
  if not open then redis.call('EXPIRE', inc, retention) end
  event(P, desk, evcap, 'completed', ref, 'by', who, 'outcome', outcome)
  audit(P, aucap, 'completed', ref, who, outcome, 'desk', desk)
  return inc, nil
end

-- Leases a queued desk task (already taken out of the queue) to a dispatcher. Returns {token,
-- expires ms, HGETALL of the incident} when `whole` is '1', else {token, expires ms, HMGET of
-- the fields a desk needs: ref, grade, decision, created, updated}.
local function lease_task(P, ref, desk, who, lease_ms, now, evcap, aucap, how, whole)
  local inc = P .. 'inc:' .. ref
  local token = redis.call('INCR', P .. 'fence')
  local exp = now + tonumber(lease_ms)
  -- Formatted once: Lua formats a number again each time it is passed to Redis.
  local token_s, exp_s = fmt_int(token), fmt_int(exp)
  redis.call('ZREM', P .. 'deadlines', ref .. '|' .. desk)
  redis.call('ZADD', P .. 'leases', exp_s, ref .. '|' .. desk)
  redis.call('HSET', inc, 't:' .. desk .. ':state', 'claimed', 't:' .. desk .. ':token', token_s,
    't:' .. desk .. ':by', who, 't:' .. desk .. ':exp', exp_s, 'updated', now)
  event(P, desk, evcap, 'claimed', ref, 'by', who)
  audit(P, aucap, 'claimed', ref, who, how, 'desk', desk, 'token', token_s)
  if whole == '1' then return {token, exp, redis.call('HGETALL', inc)} end
  return {token, exp, redis.call('HMGET', inc, 'ref', 'grade', 'decision', 'created', 'updated')}
end

-- Moves a desk task to another desk's queue, keeping its place in the order (its score), with a
-- fresh escalation deadline. Whatever its state, the task leaves `from` entirely.
local function move_task(P, ref, from, to, now, targets, esc)
  local inc = P .. 'inc:' .. ref
  local f = redis.call('HMGET', inc, 't:' .. from .. ':score', 't:' .. from .. ':queued', 'grade')
  redis.call('ZREM', P .. 'q:' .. from, ref)
  redis.call('ZREM', P .. 'deadlines', ref .. '|' .. from)
  redis.call('ZREM', P .. 'leases', ref .. '|' .. from)
  for _, field in ipairs({'state', 'score', 'queued', 'deadline', 'token', 'by', 'exp', 'esc', 'expiries', 'outcome'}) do
    redis.call('HDEL', inc, 't:' .. from .. ':' .. field)
  end
  local desks, present = {}, false
  for _, d in ipairs(desk_list(inc)) do
    if d == to then present = true end
    if d ~= from then table.insert(desks, d) end
  end
  if not present then table.insert(desks, to) end
  redis.call('HSET', inc, 'desks', table.concat(desks, ','), 'updated', now)
  local state = redis.call('HGET', inc, 't:' .. to .. ':state')
  if state == 'queued' or state == 'claimed' then return end
  local deadline = fmt_int(now + target_ms(targets, f[3]))
  redis.call('HSET', inc, 't:' .. to .. ':state', 'queued', 't:' .. to .. ':score', f[1],
    't:' .. to .. ':queued', f[2], 't:' .. to .. ':deadline', deadline, 't:' .. to .. ':esc', esc)
  redis.call('ZADD', P .. 'q:' .. to, f[1], ref)
  redis.call('ZADD', P .. 'deadlines', deadline, ref .. '|' .. to)
end

-- Sets an incident's grade; queued tasks move to their place for the new grade.
local function set_grade(P, ref, grade, now, targets)
  local inc = P .. 'inc:' .. ref
  local seq = redis.call('HGET', inc, 'seq')
  redis.call('HSET', inc, 'grade', grade, 'updated', now)
  local score = score_of(grade, seq)
  for _, d in ipairs(desk_list(inc)) do
    if redis.call('HGET', inc, 't:' .. d .. ':state') == 'queued' then
      local queued = tonumber(redis.call('HGET', inc, 't:' .. d .. ':queued'))
      local deadline = fmt_int(queued + target_ms(targets, grade))
      redis.call('HSET', inc, 't:' .. d .. ':score', score, 't:' .. d .. ':deadline', deadline)
      redis.call('ZADD', P .. 'q:' .. d, score, ref)
      redis.call('ZADD', P .. 'deadlines', deadline, ref .. '|' .. d)
    end
  end
end

-- True while any desk still has work on the incident.
local function is_open(inc)
  for _, d in ipairs(desk_list(inc)) do
    if redis.call('HGET', inc, 't:' .. d .. ':state') ~= 'completed' then return true end
  end
  return false
end
