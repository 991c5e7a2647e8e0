-- enqueue: adds a batch of jobs, each ready (XADD) or delayed (ZADD), skipping custom ids
-- that already exist (as a job or a kept result).
-- KEYS: last_id, delayed, job_prefix, result_prefix, events, guard, streams... (highest first)
-- ARGV: queue, events_max (length the event stream is capped at; 0: no events), tick (a cron
--       tick in ms: the batch is added only if the guard key holds an older tick; '' for no
--       guard), then per
--       job 5 values: level (1-based index into streams), id ('' = auto), tail
--       ("task|attempt|sig|opts"), data, due ('' now, '+ms' relative, 'ms' absolute)
-- Returns: per job, 2 values: id, 1 if added or 0 if it already existed (empty when the
--   guard refused the tick)
-- @include lib

if ARGV[3] ~= '' then
  -- A cron tick is enqueued once, however many workers fire it.
  local last = tonumber(redis.call('GET', KEYS[6]))
  if last and last >= tonumber(ARGV[3]) then return {} end
  redis.call('SET', KEYS[6], ARGV[3])
end
local now = now_ms()
id_begin(KEYS[1], now)
local events_max = tonumber(ARGV[2])
local events = {}
local out = {}
for i = 4, #ARGV, 5 do
  local level, id, tail, data, due = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local exists = id ~= '' and (redis.call('EXISTS', KEYS[3] .. id) == 1 or redis.call('EXISTS', KEYS[4] .. id) == 1)
  if exists then
    out[#out + 1] = id
    out[#out + 1] = 0
  else
    local due_at = nil
    if due ~= '' then
      if string.sub(due, 1, 1) == '+' then due_at = now + tonumber(string.sub(due, 2)) else due_at = tonumber(due) end
    end
    if due_at and due_at > now then
      if id == '' then id = id_next() end
      redis.call('HSET', KEYS[3] .. id, 'st', 'delayed', 'l', level, 'h', id .. '|' .. tail, 'd', data)
      redis.call('ZADD', KEYS[2], due_at, id)
    else
      local entry = id_next()
      redis.call('XADD', KEYS[6 + level], entry, 'h', id .. '|' .. tail, 'd', data)
      if id == '' then
        id = entry
      else
        redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry)
      end
    end
    if events_max > 0 then
      events[#events + 1] = { type = 'job.enqueued', at = now, queue = ARGV[1], id = id, task = string.match(tail, '^[^|]*') }
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end
id_end()
if #events > 0 then
  -- Written with the jobs, so it precedes anything a worker reports about them; one entry per
  -- batch, the cap scaled so about events_max events stay.
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', math.ceil(events_max / #events), '*', 'e', cjson.encode(events))
end
return out
