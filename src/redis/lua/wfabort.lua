-- wfabort: ends a running or failed workflow aborted, kept `ttl` more seconds; answers its
-- current stage and that stage's size (the caller aborts those nodes' jobs), or 0 when the
-- workflow had ended or is gone. Announced on "<wf key>:end" for result waiters.
-- KEYS: wf, results, failed
-- ARGV: reason
-- @include lib
local f = redis.call('HMGET', KEYS[1], 'state', 'stage', 'ttl')
if not f[1] or f[1] == 'completed' or f[1] == 'aborted' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'aborted', 'reason', ARGV[1], 'ended', now_ms())
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, tonumber(f[3]) * 1000) end
redis.call('PUBLISH', KEYS[1] .. ':end', 'aborted')
return {tonumber(f[2]), tonumber(redis.call('HGET', KEYS[1], 'z' .. f[2]))}
