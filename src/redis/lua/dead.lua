-- dead: moves a job to the dead-letter stream with why it failed (or, with use_dlq 0, only
-- records the failure), stores its failed result and acknowledges its entry; refused when
-- the lease was lost.
-- A job of a fair group at its cap (in `full`) rings the groups `bell` (see complete.lua).
-- KEYS: dlq, job_prefix, result_prefix, waiters, stream, aborting, taken, wf_notes, watch, full,
--       bell
-- ARGV: group, consumer, entry ('' when already taken), token, id, done_channel, queue, level,
--       reason, error, stack, attempts, worker, record, ttl, use_dlq, h, d (h and d are used
--       when the entry was already taken)
-- Returns: 1 if recorded, 0 if refused
-- @include lib
wf_notes = KEYS[8]
wf_watched = KEYS[9]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job

local group, consumer, entry, token, id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local stream = KEYS[5]
local h, d = ARGV[17], ARGV[18]
-- The first write frees (the entry, or a taken job's place): on a full Redis, a script that
-- has written may go on past maxmemory, so failures are still recorded.
if entry ~= '' then
  if not holds(stream, group, entry, consumer, token) then return 0 end
  local f = entry_fields(stream, entry)
  redis.call('XACK', stream, group, entry)
  redis.call('XDEL', stream, entry)
  if f then h, d = f.h or '', f.d or '' end
else
  redis.call('HDEL', KEYS[7], id)
end
if of_full_group(KEYS[2] .. id, KEYS[10]) then ring_bell(KEYS[11]) end
redis.call('DEL', KEYS[2] .. id)
redis.call('SREM', KEYS[6], id)
if ARGV[16] == '1' then
  -- The header counts attempts spent; the failed one is spent too (replay goes on from it).
  local spent = nil
  if (tonumber(ARGV[12]) or 0) > 0 then spent = ARGV[12] end
  redis.call('XADD', KEYS[1], '*', 'h', header_with(h, id, spent), 'd', d, 'level', ARGV[8],
    'reason', ARGV[9], 'error', ARGV[10], 'stack', ARGV[11], 'attempts', ARGV[12],
    'queue', ARGV[7], 'worker', ARGV[13], 'failed_at', now_ms())
end
store_result(KEYS[3], KEYS[4], ARGV[6], id, ARGV[14], ARGV[15])
return 1
