-- Reads a desk's queue in working order. Read-only.
-- KEYS[1] queue
-- ARGV: 1 prefix, 2 desk, 3 limit
-- Returns {depth, now ms, {ref, grade, type, agency, queued ms}, ...}
local P, desk = ARGV[1], ARGV[2]
local refs = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local out = {redis.call('ZCARD', KEYS[1]), now_ms()}
for _, ref in ipairs(refs) do
  local f = redis.call('HMGET', P .. 'inc:' .. ref, 'grade', 'type', 'agency', 't:' .. desk .. ':queued')
  table.insert(out, {ref, f[1] or '0', f[2] or '', f[3] or '', f[4] or '0'})
end
return out
