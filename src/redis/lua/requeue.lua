-- requeue: hands jobs a stopping worker holds (running or prefetched) straight back to
-- their ready stream as new entries, without spending an attempt (see hand_back in lib).
-- KEYS: last_id, job_prefix, aborting, result_prefix, waiters, dlq, wf_notes, watch, streams...
-- ARGV: group, consumer, done_channel, ttl, queue, then per job 4 values: level, entry, token
--       ('' for any), id ('' to take it from the header)
-- Returns: number of jobs handed back (or ended, when their abort was asked for)
-- @include lib
-- @include jobs

local NSTREAM = 8
wf_notes = KEYS[7]
wf_placed = true
wf_watched = KEYS[8]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job
local k = { group = ARGV[1], job_prefix = KEYS[2], aborting = KEYS[3], result_prefix = KEYS[4], waiters = KEYS[5],
  done_channel = ARGV[3], ttl = ARGV[4], dlq = KEYS[6], queue = ARGV[5] }
id_begin(KEYS[1], now_ms())
local n = 0
for i = 6, #ARGV, 4 do
  local level = tonumber(ARGV[i])
  n = n + hand_back(k, KEYS[NSTREAM + level], level, ARGV[i + 1], ARGV[2], ARGV[i + 2], ARGV[i + 3])
end
id_end()
return n
