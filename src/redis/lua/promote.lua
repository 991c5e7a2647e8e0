-- promote: moves delayed jobs and retries that are due (by server time) to their ready
-- streams. One whose record lost its envelope (or the record itself) cannot run: it goes to
-- the DLQ as malformed, its record with it, so it neither vanishes nor blocks its custom id.
-- A job of a group goes back to the end of its group's list (fair.lua) instead.
-- KEYS: delayed, last_id, job_prefix, dlq, group_prefix, ring, rest, full, paused_groups, bell,
--       streams...
-- ARGV: count, queue
-- Returns: {number moved, ms until the next delayed job is due or -1 when none is}
-- @include lib
-- @include fair

local NSTREAM = 10
fair = { list = KEYS[5], ring = KEYS[6], rest = KEYS[7], full = KEYS[8], paused = KEYS[9], bell = KEYS[10] }
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local nstreams = #KEYS - NSTREAM
local grouped = false
id_begin(KEYS[2], now)
for _, id in ipairs(due) do
  local rec = KEYS[3] .. id
  local v = redis.call('HMGET', rec, 'h', 'd', 'l', 'g')
  redis.call('ZREM', KEYS[1], id)
  if v[1] and v[4] then
    fair_add(v[4], id, rec, math.max(1, math.min(nstreams, tonumber(v[3]) or 1)), v[1], v[2] or '')
    grouped = true
  elseif v[1] then
    local level = math.max(1, math.min(nstreams, tonumber(v[3]) or 1))
    local entry = id_next()
    redis.call('XADD', KEYS[NSTREAM + level], entry, 'h', v[1], 'd', v[2] or '')
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
if grouped then fair_ring_bell() end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = -1
if nxt[2] then wait = math.max(0, tonumber(nxt[2]) - now) end
return { #due, wait }
