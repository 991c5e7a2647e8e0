-- promote: moves delayed jobs and retries that are due (by server time) to their ready
-- streams. One whose record lost its envelope (or the record itself) cannot run: it goes to
-- the DLQ as malformed, its record with it, so it neither vanishes nor blocks its custom id.
-- KEYS: delayed, last_id, job_prefix, dlq, streams...
-- ARGV: count, queue
-- Returns: {number moved, ms until the next delayed job is due or -1 when none is}
-- @include lib

local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local nstreams = #KEYS - 4
id_begin(KEYS[2], now)
for _, id in ipairs(due) do
  local rec = KEYS[3] .. id
  local v = redis.call('HMGET', rec, 'h', 'd', 'l')
  redis.call('ZREM', KEYS[1], id)
  if v[1] then
    local level = math.max(1, math.min(nstreams, tonumber(v[3]) or 1))
    local entry = id_next()
    redis.call('XADD', KEYS[4 + level], entry, 'h', v[1], 'd', v[2] or '')
    redis.call('HSET', rec, 'st', 'queued', 'e', entry, 'l', level)
    redis.call('HDEL', rec, 'h', 'd')
  else
    local level = math.max(1, math.min(nstreams, tonumber(v[3]) or 1))
    redis.call('XADD', KEYS[4], '*', 'h', id .. '|||', 'd', v[2] or '', 'level', level, 'reason', 'malformed',
      'error', 'BadJobError: malformed: delayed job ' .. id .. ' came due but its record holds no envelope',
      'stack', '', 'attempts', 0, 'queue', ARGV[2], 'worker', '', 'failed_at', now)
    redis.call('DEL', rec)
  end
end
id_end()
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return { #due, wait }
