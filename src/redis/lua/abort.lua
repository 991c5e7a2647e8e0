-- abort: stops a job wherever it is. A waiting or delayed job is removed and recorded as
-- aborted (its record keeps the job's arguments and priority); a running (or prefetched) job
-- is flagged and its worker told over pub/sub.
-- A job waiting in its group (fair.lua) leaves the group's list.
-- KEYS: delayed, job_prefix, result_prefix, waiters, aborting, wf_notes, watch, group_prefix,
--       ring, rest, full, paused_groups, bell, streams...
-- ARGV: id, group, done_channel, abort_channel, record (the aborted outcome, empty value), ttl
-- Returns: 'aborted', 'aborting' (a worker holds it and was told), 'finished', or 'not_found'
-- @include lib
-- @include jobs
-- @include fair

local NSTREAM = 14
fair = { list = KEYS[8], ring = KEYS[9], rest = KEYS[10], full = KEYS[11], paused = KEYS[12], bell = KEYS[13] }
wf_notes = KEYS[6]
wf_placed = true
wf_watched = KEYS[7]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job
local id, group = ARGV[1], ARGV[2]
local rec = KEYS[2] .. id
local v = redis.call('HMGET', rec, 'st', 'e', 'l', 'h', 'd', 'g')
local st = v[1]
local stream, entry
if st == 'delayed' or st == 'grouped' then
  if st == 'delayed' then
    redis.call('ZREM', KEYS[1], id)
  elseif v[6] then
    redis.call('LREM', fair.list .. v[6], 1, id)
    if redis.call('EXISTS', fair.list .. v[6]) == 0 then fair_leave(v[6]) end
  end
  redis.call('DEL', rec)
  local level = tonumber(v[3]) or 1
  store_result(KEYS[3], KEYS[4], ARGV[3], id, with_job(ARGV[5], v[4], v[5], KEYS[NSTREAM + level - 1]), ARGV[6])
  return 'aborted'
elseif st == 'running' then
  redis.call('SADD', KEYS[5], id)
  redis.call('PUBLISH', ARGV[4], id)
  return 'aborting'
elseif st == 'queued' then
  entry = v[2]
  stream = KEYS[NSTREAM + (tonumber(v[3]) or 1) - 1]
else
  if redis.call('EXISTS', KEYS[3] .. id) == 1 then return 'finished' end
  if not string.match(id, '^%d+%-%d+$') then return 'not_found' end
  for i = NSTREAM, #KEYS do
    if #redis.call('XRANGE', KEYS[i], id, id) > 0 then
      stream, entry = KEYS[i], id
      break
    end
  end
  if not stream then return 'not_found' end
end
local p = redis.pcall('XPENDING', stream, group, entry, entry, 1)
if type(p) == 'table' and not p.err and p[1] then
  redis.call('SADD', KEYS[5], id)
  redis.call('PUBLISH', ARGV[4], id)
  return 'aborting'
end
local f = entry_fields(stream, entry) or {}
redis.call('XDEL', stream, entry)
redis.call('DEL', rec)
store_result(KEYS[3], KEYS[4], ARGV[3], id, with_job(ARGV[5], f.h, f.d, stream), ARGV[6])
return 'aborted'
