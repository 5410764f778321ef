-- Records a new contact as a new incident, queued on each of its desks; or, when the contact id
-- was seen before, changes nothing and returns the incident it created.
-- KEYS[1] idempotency key   KEYS[2] arrival counter   KEYS[3] deadlines
-- ARGV: 1 prefix, 2 reference prefix, 3 idempotency ttl s, 4 decision json, 5 grade,
--       6 agency, 7 incident type, 8 contact id, 9 desks (comma separated), 10 queue-wait target ms,
--       11 event stream cap, 12 audit stream cap, 13 who (channel)
-- Returns {replayed (0|1), HGETALL of the incident}
local P = ARGV[1]
local existing = redis.call('GET', KEYS[1])
if existing then
  return {1, redis.call('HGETALL', P .. 'inc:' .. existing)}
end
local now = now_ms()
local day = yyyymmdd(now)
local n = redis.call('INCR', P .. 'day:' .. day)
if n == 1 then redis.call('EXPIRE', P .. 'day:' .. day, 3 * 86400) end
local ref = ARGV[2] .. '-' .. day .. '-' .. n
local inc = P .. 'inc:' .. ref
local seq = redis.call('INCR', KEYS[2])
local grade = tonumber(ARGV[5])
local score = fmt_int(grade * 1e13 + seq)
local deadline = fmt_int(now + tonumber(ARGV[10]))
redis.call('HSET', inc, 'ref', ref, 'created', now, 'updated', now, 'grade', ARGV[5],
  'agency', ARGV[6], 'type', ARGV[7], 'seq', seq, 'desks', ARGV[9], 'contacts', ARGV[8],
  'decision', ARGV[4])
for desk in string.gmatch(ARGV[9], '[^,]+') do
  redis.call('HSET', inc, 't:' .. desk .. ':state', 'queued', 't:' .. desk .. ':score', score,
    't:' .. desk .. ':queued', now, 't:' .. desk .. ':deadline', deadline)
  redis.call('ZADD', P .. 'q:' .. desk, score, ref)
  redis.call('ZADD', P .. 'qt:' .. desk, now, ref)
  redis.call('ZADD', KEYS[3], deadline, ref .. '|' .. desk)
  event(P, desk, ARGV[11], 'queued', ref, 'grade', ARGV[5], 'type', ARGV[7])
end
audit(P, ARGV[12], 'submitted', ref, ARGV[13], 'new contact', 'contact', ARGV[8], 'desks', ARGV[9])
redis.call('SET', KEYS[1], ref, 'EX', ARGV[3])
return {0, redis.call('HGETALL', inc)}
