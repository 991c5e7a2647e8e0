-- Helpers of the scripts that write records on a job's behalf or move it (spliced in after lib
-- where a script says `-- @include jobs`): kept apart so that the scripts on the hot path
-- (enqueue, fetch, complete) do not build these functions on every call.

-- The priority level name of a ready stream "<base>:s:<level>".
local function level_name(stream)
  return string.match(stream, ':s:([^:]+)$') or ''
end

-- An outcome record "status|{meta}\n" (empty value, meta without a task) with what it keeps of
-- the job: its task, priority `p`, enqueue time `q` and workflow place `w` (from the header's options) and arguments
-- (`a` bytes first in the body), as the worker writes them (src/results.ts).
local function with_job(record, h, d, stream)
  local nl = string.find(record, '\n', 1, true)
  if not nl then return record end
  local extra = ''
  local task = h and string.match(h, '^[^|]*|([^|]*)|')
  if task and task ~= '' then extra = ',"task":' .. cjson.encode(task) end
  if stream then extra = extra .. ',"p":' .. cjson.encode(level_name(stream)) end
  local q = h and string.match(h, '"q":(%d+)')
  if q then extra = extra .. ',"q":' .. q end
  local w = h and string.match(h, '"w":(%b[])')
  if w then extra = extra .. ',"w":' .. w end
  d = d or ''
  return string.sub(record, 1, nl - 2) .. extra .. ',"a":' .. #d .. '}\n' .. string.sub(record, nl + 1) .. d
end

-- The record of a job aborted on request while it was being moved (retried, handed back,
-- reclaimed): it ends there, with its arguments kept.
local function aborted_record(message, h, d, stream)
  local meta = 'aborted|{"name":"JobAbortedError","message":' .. cjson.encode(message) .. ',"reason":"aborted","finishedAt":' .. now_ms() .. '}\n'
  return with_job(meta, h, d, stream)
end

-- A trace in the dead-letter stream of a pending entry whose fields are gone (deleted from the
-- stream while it was delivered), so that no job vanishes without one.
local function dead_trace(dlq, entry, level, queue, consumer, job_rec)
  local h = entry .. '|||'
  if job_rec then
    local v = redis.call('HGET', job_rec, 'h')
    if v then h = v end
  end
  redis.call('XADD', dlq, '*', 'h', h, 'd', '', 'level', level, 'reason', 'malformed',
    'error', 'BadJobError: malformed: entry ' .. entry .. ' was pending but its fields are gone from the stream',
    'stack', '', 'attempts', 0, 'queue', queue, 'worker', consumer, 'failed_at', now_ms())
end

-- Hands one pending entry straight back to its stream as a new entry at the end (no attempt
-- spent; the deaths it saw go with it in field r, so reclaim still counts them and a poison
-- job cannot escape by hand-back: every earlier delivery was reclaimed from a dead worker, and
-- so was the last when a dead worker's jobs are handed back, token ''). A job whose abort was
-- asked for ends aborted instead. Between id_begin and id_end.
-- k: group, job_prefix, aborting, result_prefix, waiters, done_channel, ttl, dlq, queue
-- Returns 1 (handed back, or ended aborted), 0 (not held with this token: left alone)
local function hand_back(k, stream, level, entry, consumer, token, id)
  if not holds(stream, k.group, entry, consumer, token) then return 0 end
  local f = entry_fields(stream, entry)
  local r = f and tonumber(f.r) or 0
  local p = redis.call('XPENDING', stream, k.group, entry, entry, 1)[1]
  if p then r = r + tonumber(p[4]) - (token == '' and 0 or 1) end
  redis.call('XACK', stream, k.group, entry)
  redis.call('XDEL', stream, entry)
  if not f or not f.h then
    dead_trace(k.dlq, entry, level, k.queue, consumer, id ~= '' and k.job_prefix .. id or nil)
    -- Its record goes with it, as in retry.lua: left behind, it would refuse its custom id forever.
    if id ~= '' then redis.call('DEL', k.job_prefix .. id) end
    return 1
  end
  if id == '' then id = header_id(f.h) end
  if id == '' then id = entry end
  if redis.call('SREM', k.aborting, id) == 1 then
    redis.call('DEL', k.job_prefix .. id)
    store_result(k.result_prefix, k.waiters, k.done_channel, id, aborted_record('aborted while it was handed back', f.h, f.d, stream), k.ttl)
    return 1
  end
  local next_entry = id_next()
  if r > 0 then
    redis.call('XADD', stream, next_entry, 'h', header_with(f.h, id, nil), 'd', f.d or '', 'r', r)
  else
    redis.call('XADD', stream, next_entry, 'h', header_with(f.h, id, nil), 'd', f.d or '')
  end
  redis.call('HSET', k.job_prefix .. id, 'st', 'queued', 'l', level, 'e', next_entry)
  return 1
end
