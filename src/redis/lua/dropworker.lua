-- dropworker: forgets a dead worker on one queue in one atomic step: its pending entries are
-- handed back (see hand_back in lib), at-most-once jobs it had taken go to the dead-letter
-- queue with reason 'interrupted' (they may have run in part, so an operator decides), and
-- only then is its consumer deleted, so no pending entry is ever dropped with it. Nothing
-- changes while the worker shows a sign of life: its health record for the queue exists, or
-- its consumer read or claimed within stale_ms.
-- KEYS: last_id, job_prefix, aborting, result_prefix, waiters, dlq, taken, health, wf_notes, watch, streams...
-- ARGV: group, consumer, done_channel, ttl, queue, stale_ms, max (entries handed back per call)
-- Returns: {state, handed back, interrupted ids}; state 'alive', 'more' (call again) or 'done'
-- @include lib
-- @include jobs

local NSTREAM = 11
wf_notes = KEYS[9]
wf_placed = true
wf_watched = KEYS[10]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job
local group, consumer, stale, max = ARGV[1], ARGV[2], tonumber(ARGV[6]), tonumber(ARGV[7])
if redis.call('EXISTS', KEYS[8]) == 1 then return { 'alive', 0, {} } end
local present = {}
for i = NSTREAM, #KEYS do
  local consumers = redis.pcall('XINFO', 'CONSUMERS', KEYS[i], group)
  if type(consumers) == 'table' and not consumers.err then
    for _, c in ipairs(consumers) do
      local name, idle
      for k = 1, #c, 2 do
        if c[k] == 'name' then name = c[k + 1] elseif c[k] == 'idle' then idle = c[k + 1] end
      end
      if name == consumer then
        if tonumber(idle) < stale then return { 'alive', 0, {} } end
        present[i] = true
      end
    end
  end
end

local k = { group = group, job_prefix = KEYS[2], aborting = KEYS[3], result_prefix = KEYS[4], waiters = KEYS[5],
  done_channel = ARGV[3], ttl = ARGV[4], dlq = KEYS[6], queue = ARGV[5] }
id_begin(KEYS[1], now_ms())
local n = 0
for i = NSTREAM, #KEYS do
  if present[i] then
    local level = i - NSTREAM + 1
    for _, p in ipairs(redis.call('XPENDING', KEYS[i], group, '-', '+', max - n, consumer)) do
      n = n + hand_back(k, KEYS[i], level, p[1], consumer, '', '')
    end
  end
  if n >= max then
    id_end()
    return { 'more', n, {} }
  end
end
id_end()
for i = NSTREAM, #KEYS do
  if present[i] then redis.call('XGROUP', 'DELCONSUMER', KEYS[i], group, consumer) end
end

-- At-most-once jobs this worker took and never finished.
local interrupted = {}
local taken = redis.call('HGETALL', KEYS[7])
local mine = consumer .. '|'
for t = 1, #taken, 2 do
  if string.sub(taken[t + 1], 1, #mine) == mine then
    local id = taken[t]
    local rec = KEYS[2] .. id
    local v = redis.call('HMGET', rec, 'h', 'd', 'l')
    redis.call('HDEL', KEYS[7], id)
    redis.call('DEL', rec)
    local level = tonumber(v[3]) or 1
    local err = 'WorkerLostError: its worker died while it ran; at-most-once jobs are not run again'
    if v[1] then
      redis.call('XADD', KEYS[6], '*', 'h', header_with(v[1], id, nil), 'd', v[2] or '', 'level', level,
        'reason', 'interrupted', 'error', err, 'stack', '', 'attempts', 0, 'queue', ARGV[5], 'worker', consumer, 'failed_at', now_ms())
    end
    redis.call('SREM', KEYS[3], id)
    local record = with_job('failed|' .. cjson.encode({ name = 'WorkerLostError', message = 'its worker died while it ran; at-most-once jobs are not run again', reason = 'interrupted', worker = consumer, finishedAt = now_ms() }) .. '\n', v[1], v[2], KEYS[NSTREAM + level - 1])
    store_result(KEYS[4], KEYS[5], ARGV[3], id, record, ARGV[4])
    interrupted[#interrupted + 1] = id
  end
end
return { 'done', n, interrupted }
