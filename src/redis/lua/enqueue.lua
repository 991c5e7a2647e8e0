-- enqueue: adds a batch of jobs, each ready (XADD) or delayed (ZADD), skipping custom ids
-- that already exist (as a job or a kept result).
-- KEYS: last_id, delayed, job_prefix, result_prefix, events, guard, streams... (highest first)
-- ARGV: queue, events_max (length the event stream is capped at; 0: no events), tick (a cron
--       tick in ms: the batch is added only if the guard key holds an older tick; '' for no
--       guard), then per job 2 values: "level|due|id|tail" (level: 1-based index into
--       streams; due: '' now, '+ms' relative, 'ms' absolute; id: '' for an auto id; tail:
--       "task|attempt|sig|opts") and data
-- Returns: {ms, seq, flags} (empty when the guard refused the tick): ids are handed out in
--   order from "ms-seq"; flags has one character per job: '0' its custom id already existed,
--   '1' added, taking the next id (an auto job's id, a ready custom job's entry), '2' added
--   without one (a delayed custom job)
-- @include lib

if ARGV[3] ~= '' then
  -- A cron tick is enqueued once, however many workers fire it.
  local last = tonumber(redis.call('GET', KEYS[6]))
  if last and last >= tonumber(ARGV[3]) then return {} end
  redis.call('SET', KEYS[6], ARGV[3])
end
local now = now_ms()
id_begin(KEYS[1], now)
local first_ms, first_seq = id_ms, id_seq + 1
local events_max = tonumber(ARGV[2])
-- Event rows ["job.enqueued", at, id, task] (see packEvents), written as text directly.
local rows = {}
local row_head = '["job.enqueued",' .. string.format('%.0f', now) .. ','
local row_for, row_tail
local flags = {}
for i = 4, #ARGV, 2 do
  local spec, data = ARGV[i], ARGV[i + 1]
  local a = string.find(spec, '|', 1, true)
  local b = string.find(spec, '|', a + 1, true)
  local c = string.find(spec, '|', b + 1, true)
  local level, due, id, tail = tonumber(string.sub(spec, 1, a - 1)), string.sub(spec, a + 1, b - 1), string.sub(spec, b + 1, c - 1), string.sub(spec, c + 1)
  local custom = id ~= ''
  if custom and (redis.call('EXISTS', KEYS[3] .. id) == 1 or redis.call('EXISTS', KEYS[4] .. id) == 1) then
    flags[#flags + 1] = '0'
  else
    local due_at = nil
    if due ~= '' then
      if string.sub(due, 1, 1) == '+' then due_at = now + tonumber(string.sub(due, 2)) else due_at = tonumber(due) end
    end
    local flag = '1'
    if due_at and due_at > now then
      if custom then flag = '2' else id = id_next() end
      redis.call('HSET', KEYS[3] .. id, 'st', 'delayed', 'l', level, 'h', id .. '|' .. tail, 'd', data)
      redis.call('ZADD', KEYS[2], due_at, id)
    else
      local entry = id_next()
      redis.call('XADD', KEYS[6 + level], entry, 'h', id .. '|' .. tail, 'd', data)
      if custom then
        redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry)
      else
        id = entry
      end
    end
    if events_max > 0 then
      -- Task names ([A-Za-z0-9_.-]) and auto ids need no escaping; a custom id may. Jobs of a
      -- batch mostly share their tail, so its part of the row is made once.
      if tail ~= row_for then
        row_for = tail
        row_tail = ',"' .. string.sub(tail, 1, string.find(tail, '|', 1, true) - 1) .. '"]'
      end
      rows[#rows + 1] = row_head .. (custom and cjson.encode(id) or '"' .. id .. '"') .. row_tail
    end
    flags[#flags + 1] = flag
  end
end
id_end()
if #rows > 0 then
  -- Written with the jobs, so it precedes anything a worker reports about them; one entry per
  -- batch, the cap scaled so about events_max events stay.
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', math.ceil(events_max / #rows), '*', 'e', '[' .. table.concat(rows, ',') .. ']')
end
return { string.format('%.0f', first_ms), string.format('%.0f', first_seq), table.concat(flags) }
