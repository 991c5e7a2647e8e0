-- hold: holds a queue for `ms` (ctx.rateLimit: an upstream asked to wait): fetches deliver
-- nothing until then. A longer hold already set stands. Tells its workers (on its abort
-- channel, where a message holding '|' is never a job id), so a blocked read ends at once.
-- KEYS: hold
-- ARGV: ms, channel
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
redis.call('PUBLISH', ARGV[2], '|hold')
return 1
