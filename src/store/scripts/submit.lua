-- Records a contact. One of three things happens, atomically:
--  * the contact id was seen before: nothing changes; the incident it created or joined returns;
--  * it repeats an open incident (same caller, or same family within the radius, within the
--    window): it is linked to that incident, which is regraded if the new contact is more urgent;
--  * otherwise a new incident is queued on each of its desks.
-- KEYS[1] idempotency key   KEYS[2] arrival counter   KEYS[3] deadlines
-- ARGV: 1 prefix, 2 reference prefix, 3 idempotency ttl s, 4 decision json, 5 grade,
--       6 agency, 7 incident type, 8 contact id, 9 desks (comma separated), 10 targets,
--       11 event cap, 12 audit cap, 13 who (the submitter, or the channel when open), 14 family ("" for none), 15 lat, 16 lon
--       ("" when unknown), 17 radius m, 18 window ms, 19 caller number digits ("" when unknown),
--       20 the authenticated submitter ("" when the service runs open): marked on a new incident
--       as src:<name>, so that a portal can read what its contacts made (not what they joined)
-- Returns {1 replayed | 2 linked, HGETALL of the incident}, or for a new incident (whose
-- contents the caller has) {0, reference, created ms}
local P = ARGV[1]
local existing = redis.call('GET', KEYS[1])
if existing then
  -- A write, so that a WAIT after a retried submit waits for the replicas to have the id.
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return {1, redis.call('HGETALL', P .. 'inc:' .. existing)}
end
local now = now_ms()
local window = tonumber(ARGV[18])
local family, lat, lon, caller = ARGV[14], ARGV[15], ARGV[16], ARGV[19]
local caller_key = caller ~= '' and (P .. 'caller:' .. redis.sha1hex(caller)) or nil
local bucket = math.floor(now / window)

-- Is it a repeat of an open incident?
local linked
if caller_key then
  local r = redis.call('GET', caller_key)
  if r and is_open(P .. 'inc:' .. r) then linked = r end
end
if not linked and family ~= '' and lat ~= '' then
  for b = bucket, bucket - 1, -1 do
    local hits = redis.call('GEOSEARCH', P .. 'geo:' .. family .. ':' .. b, 'FROMLONLAT', lon, lat,
      'BYRADIUS', ARGV[17], 'm', 'ASC', 'COUNT', 5)
    for _, r in ipairs(hits) do
      local inc = P .. 'inc:' .. r
      local created = tonumber(redis.call('HGET', inc, 'created') or '0')
      if created >= now - window and is_open(inc) then linked = r break end
    end
    if linked then break end
  end
end
if linked then
  local inc = P .. 'inc:' .. linked
  redis.call('HSET', inc, 'contacts', redis.call('HGET', inc, 'contacts') .. ',' .. ARGV[8], 'updated', now)
  local old = tonumber(redis.call('HGET', inc, 'grade'))
  local why = caller_key and redis.call('GET', caller_key) == linked and 'same caller' or 'same place'
  if tonumber(ARGV[5]) < old then set_grade(P, linked, ARGV[5], now, ARGV[10]) end
  for _, d in ipairs(desk_list(inc)) do
    event(P, d, ARGV[11], 'linked', linked, 'contact', ARGV[8], 'grade', redis.call('HGET', inc, 'grade'), 'why', why)
  end
  audit(P, ARGV[12], 'linked', linked, ARGV[13], why, 'contact', ARGV[8], 'grade_was', old,
    'grade', redis.call('HGET', inc, 'grade'))
  redis.call('SET', KEYS[1], linked, 'EX', ARGV[3])
  return {2, redis.call('HGETALL', inc)}
end

-- A new incident.
local day = yyyymmdd(now)
local n = redis.call('INCR', P .. 'day:' .. day)
if n == 1 then redis.call('EXPIRE', P .. 'day:' .. day, 3 * 86400) end
local ref = ARGV[2] .. '-' .. day .. '-' .. n
local inc = P .. 'inc:' .. ref
local seq = fmt_int(redis.call('INCR', KEYS[2]))
local score = score_of(ARGV[5], seq)
local deadline = fmt_int(now + target_ms(ARGV[10], ARGV[5]))
-- Numbers are formatted once: Lua formats a number again each time it is passed to Redis.
local stamp = fmt_int(now)
-- The incident and its desk tasks in one write, every desk's deadline in another.
local fields = {'ref', ref, 'created', stamp, 'updated', stamp, 'grade', ARGV[5], 'agency', ARGV[6],
  'type', ARGV[7], 'seq', seq, 'desks', ARGV[9], 'contacts', ARGV[8], 'decision', ARGV[4]}
if ARGV[20] ~= '' then fields[#fields + 1] = 'src:' .. ARGV[20] fields[#fields + 1] = 1 end
local deadlines, desks = {}, {}
for desk in string.gmatch(ARGV[9], '[^,]+') do
  local t, n = 't:' .. desk .. ':', #fields
  fields[n + 1], fields[n + 2] = t .. 'state', 'queued'
  fields[n + 3], fields[n + 4] = t .. 'score', score
  fields[n + 5], fields[n + 6] = t .. 'queued', stamp
  fields[n + 7], fields[n + 8] = t .. 'deadline', deadline
  deadlines[#deadlines + 1] = deadline
  deadlines[#deadlines + 1] = ref .. '|' .. desk
  desks[#desks + 1] = desk
end
redis.call('HSET', inc, unpack(fields))
redis.call('ZADD', KEYS[3], unpack(deadlines))
for _, desk in ipairs(desks) do
  redis.call('ZADD', P .. 'q:' .. desk, score, ref)
  event(P, desk, ARGV[11], 'queued', ref, 'grade', ARGV[5], 'type', ARGV[7])
end
audit(P, ARGV[12], 'submitted', ref, ARGV[13], 'new contact', 'contact', ARGV[8], 'desks', ARGV[9])
redis.call('SET', KEYS[1], ref, 'EX', ARGV[3])
if caller_key then redis.call('SET', caller_key, ref, 'PX', window) end
if family ~= '' and lat ~= '' then
  local geo = P .. 'geo:' .. family .. ':' .. bucket
  redis.call('GEOADD', geo, lon, lat, ref)
  redis.call('PEXPIRE', geo, 2 * window)
end
return {0, ref, now}
