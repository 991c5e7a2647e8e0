-- retry: takes a failed attempt's entry off the stream and schedules the job's next attempt,
-- at once (a new entry) or after a delay (the delayed set), unless the lease was lost. An abort
-- asked for while the attempt was settling wins: the job ends aborted instead of running again.
-- A retry later of a job of a fair group at its cap (in `full`) gives its permit back: it rings
-- the groups `bell` (see complete.lua).
-- KEYS: delayed, job_prefix, last_id, stream, aborting, result_prefix, waiters, dlq, wf_notes, watch,
--       full, bell
-- ARGV: group, consumer, entry, token, id, level, attempt (attempts spent so far), delay (ms),
--       error (the failed attempt's error, kept for info), aborted (the record if it ends
--       aborted), ttl (seconds its record is kept), done_channel, queue, channel (the queue's
--       notice channel: a retry that became the earliest due is announced '|due')
-- Returns: 1 if scheduled, 0 if refused (lease lost), 2 if it ended aborted
-- @include lib
-- @include jobs
wf_notes = KEYS[9]
wf_placed = true -- the aborted record of a workflow node says its place: noted for a recoverer
wf_watched = KEYS[10]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job

local group, consumer, entry, token, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local stream = KEYS[4]
if not holds(stream, group, entry, consumer, token) then return 0 end
local f = entry_fields(stream, entry)
-- Taking the entry off first is also what lets this run on a full Redis: a script that has
-- written may go on writing past maxmemory (Redis keeps scripts atomic).
redis.call('XACK', stream, group, entry)
redis.call('XDEL', stream, entry)
local rec = KEYS[2] .. id
if not f or not f.h then
  dead_trace(KEYS[8], entry, ARGV[6], ARGV[13], consumer, rec)
  redis.call('DEL', rec)
  return 0
end
if redis.call('SREM', KEYS[5], id) == 1 then
  redis.call('DEL', rec)
  store_result(KEYS[6], KEYS[7], ARGV[12], id, ARGV[10], ARGV[11])
  return 2
end
local h = header_with(f.h, id, ARGV[7])
local delay = tonumber(ARGV[8])
local now = now_ms()
if delay <= 0 then
  id_begin(KEYS[3], now)
  local next_entry = id_next()
  id_end()
  redis.call('XADD', stream, next_entry, 'h', h, 'd', f.d or '')
  redis.call('HSET', rec, 'st', 'queued', 'l', ARGV[6], 'e', next_entry, 'err', ARGV[9])
  redis.call('HDEL', rec, 'h', 'd')
else
  if of_full_group(rec, KEYS[11]) then ring_bell(KEYS[12]) end
  redis.call('HSET', rec, 'st', 'delayed', 'l', ARGV[6], 'h', h, 'd', f.d or '', 'err', ARGV[9])
  redis.call('ZADD', KEYS[1], now + delay, id)
  if redis.call('ZRANK', KEYS[1], id) == 0 then redis.call('PUBLISH', ARGV[14], '|due') end
end
return 1
