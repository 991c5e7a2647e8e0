-- enqueue: adds a batch of jobs, each ready (XADD) or delayed (ZADD), skipping custom ids
-- that already exist (as a job or a kept result).
-- KEYS: last_id, delayed, job_prefix, result_prefix, events, guard, call (this call's reply,
--       kept a minute), group_prefix, ring, rest, full, paused_groups, bell (fair groups: see
--       fair.lua), streams... (highest first)
-- ARGV: queue, events_max (length the event stream is capped at; 0: no events), tick (a cron
--       tick in ms: the batch is added only if the guard key holds an older tick; '' for no
--       guard), plan (two bytes per job: 48 + its level, a 1-based index into streams, then
--       '1' when its task differs from the job before it, else '0'), dues
--       ('' when every job is due now, else "j:due," for each job j that is not: 'ms'
--       absolute or '+ms' relative), channel (the queue's notice channel: a delayed job that
--       became the earliest due is announced '|due', so sleeping schedulers wake for it),
--       groups ('' when no job has a group, else a JSON list of each job's group or false:
--       a job of a group due now waits in its group, see fair.lua), then per job 2 values: its
--       header "id|task|attempt|sig|opts" (id '' for an auto id) and its data
-- Returns: {ms, seq, flags} (empty when the guard refused the tick): ids are handed out in
--   order from "ms-seq" (ms and seq integers); flags has one character per job: '0' its
--   custom id already existed, '1' added, taking the next id (an auto job's id, a ready custom
--   job's entry, or an auto job delayed or in a group), '2' added without one (a delayed or
--   grouped custom job)
-- The same call sent again (the client re-sends a command whose reply a dropped connection
-- lost) answers the first run's reply and adds nothing: an auto-id job is never added twice.
-- @include lib
-- @include fair

local CALL, NSTREAM = 7, 13
fair = { list = KEYS[8], ring = KEYS[9], rest = KEYS[10], full = KEYS[11], paused = KEYS[12], bell = KEYS[13] }
local before = redis.call('GET', KEYS[CALL])
if before then
  local ms, seq, flags = string.match(before, '^(%d+) (%d+) (%d*)$')
  if ms then return { tonumber(ms), tonumber(seq), flags } end
  return {}
end

if ARGV[3] ~= '' then
  -- A cron tick is enqueued once, however many workers fire it.
  local last = tonumber(redis.call('GET', KEYS[6]))
  if last and last >= tonumber(ARGV[3]) then return {} end
  redis.call('SET', KEYS[6], ARGV[3])
end
local now = now_ms()
id_begin(KEYS[1], now)
local first_ms, first_seq = id_ms, id_seq + id_step
local events_max = tonumber(ARGV[2])
local plan = ARGV[4]
local groups = ARGV[7] ~= '' and cjson.decode(ARGV[7]) or nil
local grouped = false
local dues
if ARGV[5] ~= '' then
  dues = {}
  for j, due in string.gmatch(ARGV[5], '(%d+):([^,]+),') do dues[tonumber(j)] = due end
end
-- Events: rows ["job.enqueued", at, id, task] (see packEvents), written as text directly;
-- a run of auto ids taken one after another by jobs of one task is one row ["job.enqueued",
-- at, first id, task, count] (readers expand it), so a batch of one task costs one row; a
-- shard's ids step by the shard count: its rows end with the step, [..., count, step].
local rows = {}
local row_head = '["job.enqueued",' .. string.format('%d', now) .. ',"'
local added = 0
local task, run_id, run_task, run_seq, run_n
local function end_run()
  if run_n then
    rows[#rows + 1] = row_head .. run_id .. '","' .. run_task .. (run_n > 1 and '",' .. run_n .. (id_step > 1 and ',' .. id_step or '') .. ']' or '"]')
    run_n = nil
  end
end
local flags = {}
local j = 0
local earliest = false
for i = 8, #ARGV, 2 do
  j = j + 1
  -- Most jobs take the short path: an auto id, due now, the header stored as sent.
  local h, data = ARGV[i], ARGV[i + 1]
  local lv, tc = string.byte(plan, 2 * j - 1, 2 * j)
  local level = lv - 48
  local bar = string.find(h, '|', 1, true)
  local custom = bar > 1
  local id = custom and string.sub(h, 1, bar - 1) or ''
  -- The plan marks a job whose task differs from the job before it.
  if tc == 49 and events_max > 0 then task = string.sub(h, bar + 1, string.find(h, '|', bar + 1, true) - 1) end
  if custom and (redis.call('EXISTS', KEYS[3] .. id) == 1 or redis.call('EXISTS', KEYS[4] .. id) == 1) then
    flags[j] = '0'
  else
    local due_at = nil
    local due = dues and dues[j]
    if due then
      if string.byte(due, 1) == 43 then due_at = now + tonumber(string.sub(due, 2)) else due_at = tonumber(due) end
    end
    local flag = '1'
    local g = groups and groups[j]
    if g == false then g = nil end
    if due_at and due_at > now then
      -- A delayed job's header names its id: it gets a new entry id when it is promoted.
      if custom then flag = '2' else id = id_next() end
      redis.call('HSET', KEYS[3] .. id, 'st', 'delayed', 'l', level, 'h', custom and h or id .. h, 'd', data)
      if g then redis.call('HSET', KEYS[3] .. id, 'g', g) end
      redis.call('ZADD', KEYS[2], due_at, id)
      if not earliest and redis.call('ZRANK', KEYS[2], id) == 0 then earliest = true end
    elseif g then
      -- A grouped job's header names its id too: it gets its entry when its group is served.
      if custom then flag = '2' else id = id_next() end
      fair_add(g, id, KEYS[3] .. id, level, custom and h or id .. h, data)
      grouped = true
    else
      local entry = id_next()
      redis.call('XADD', KEYS[NSTREAM + level], entry, 'h', h, 'd', data)
      if custom then
        redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry)
      else
        id = entry
      end
    end
    if events_max > 0 then
      added = added + 1
      if custom then
        -- Task names ([A-Za-z0-9_.-]) need no escaping; a custom id may.
        end_run()
        rows[#rows + 1] = row_head .. string.sub(cjson.encode(id), 2) .. ',"' .. task .. '"]'
      elseif run_n and task == run_task and id_seq == run_seq + id_step then
        run_n, run_seq = run_n + 1, id_seq
      else
        end_run()
        run_id, run_task, run_seq, run_n = id, task, id_seq, 1
      end
    end
    flags[j] = flag
  end
end
id_end()
if earliest then redis.call('PUBLISH', ARGV[6], '|due') end
if grouped then fair_ring_bell() end
if added > 0 then
  end_run()
  -- Written with the jobs, so it precedes anything a worker reports about them; one entry per
  -- batch, the cap scaled so about events_max events stay: trimmed by whole stream nodes (of
  -- up to 100 entries), or exactly when the cap is below a node (exact trimming costs more).
  local cap = math.ceil(events_max / added)
  redis.call('XADD', KEYS[5], 'MAXLEN', cap < 100 and '=' or '~', cap, '*', 'e', '[' .. table.concat(rows, ',') .. ']')
end
local reply = table.concat(flags)
redis.call('SET', KEYS[CALL], string.format('%d %d ', first_ms, first_seq) .. reply, 'PX', 60000)
return { first_ms, first_seq, reply }
