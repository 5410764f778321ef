-- Leases one specific queued incident to a dispatcher; of concurrent claims exactly one wins.
-- KEYS[1] queue
-- ARGV: 1 prefix, 2 reference, 3 desk, 4 dispatcher, 5 lease ms, 6 event cap, 7 audit cap
local P, ref, desk = ARGV[1], ARGV[2], ARGV[3]
local _, f, err = find_task(P, ref, desk)
if err then return err end
if f[1] ~= 'queued' or redis.call('ZREM', KEYS[1], ref) == 0 then
  return fail('BL_CONFLICT', 'incident ' .. ref .. ' at ' .. desk .. ' is ' .. f[1] ..
    (f[3] and (' by ' .. f[3]) or '') .. ', not queued')
end
return lease_task(P, ref, desk, ARGV[4], ARGV[5], now_ms(), ARGV[6], ARGV[7], 'claim', '1')
