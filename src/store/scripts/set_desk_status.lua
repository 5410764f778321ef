-- Opens or closes a desk.
-- KEYS[1] desk status hash
-- ARGV: 1 prefix, 2 desk, 3 "open"|"closed", 4 who, 5 reason, 6 event cap, 7 audit cap
local P, desk = ARGV[1], ARGV[2]
redis.call('HSET', KEYS[1], desk, ARGV[3])
-- Every replica follows this stream and refreshes its routing snapshot at once.
redis.call('XADD', P .. 'ops', 'MAXLEN', '~', 1000, '*', 'kind', 'desk_status', 'desk', desk, 'state', ARGV[3])
event(P, desk, ARGV[6], ARGV[3], '-', 'by', ARGV[4], 'reason', ARGV[5])
audit(P, ARGV[7], 'desk_' .. ARGV[3], '-', ARGV[4], ARGV[5], 'desk', desk)
return 1
