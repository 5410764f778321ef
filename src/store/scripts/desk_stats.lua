-- Each desk's depth and its longest-waiting task, with the clock and the desks' status.
-- Read-only.
-- KEYS[1] desk status hash
-- ARGV: 1 prefix, 2... desks
-- Returns {now ms, HGETALL of the status hash, {depth, oldest queued ms or -1} for each desk}
local P = ARGV[1]
local out = {now_ms(), redis.call('HGETALL', KEYS[1])}
for i = 2, #ARGV do
  local desk = ARGV[i]
  local q = P .. 'q:' .. desk
  local oldest = -1
  -- A queue orders by grade, then arrival (score_of): the first of each grade's band has
  -- waited longest of its grade. Regrades, requeues and transfers keep a task's arrival.
  for grade = 1, 4 do
    local first = redis.call('ZRANGE', q, score_of(grade, 0), score_of(grade + 1, -1), 'BYSCORE',
      'LIMIT', 0, 1)[1]
    if first then
      local queued = tonumber(redis.call('HGET', P .. 'inc:' .. first, 't:' .. desk .. ':queued'))
      if queued and (oldest < 0 or queued < oldest) then oldest = queued end
    end
  end
  table.insert(out, {redis.call('ZCARD', q), oldest})
end
return out
