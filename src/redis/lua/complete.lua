-- complete: records the outcome of a batch of finished jobs (completed, aborted, failed
-- without dead-lettering, expired) and acknowledges their entries, unless the caller no
-- longer holds an entry's lease (fencing), in which case that job is left alone.
-- A job of a fair group at its cap (in `full`) that ends rings the groups `bell`: a worker
-- waiting for that group's permit looks again (one EXISTS per call when no group is full).
-- KEYS: result_prefix, job_prefix, waiters, aborting, taken, wf_notes, watch, full, bell,
--       streams...
-- ARGV: group, consumer, done_channel, levels (the levels the batch's entries are on, comma-
--       separated), then per job 2 values: "level|entry|token|flags|ttl|id" (entry '' when
--       the entry was already taken, id '' when it is the entry id, flags 1: has a job
--       record) and the outcome record
-- Returns: per job, 1 if recorded or 0 if refused
-- @include lib

local group, consumer, channel = ARGV[1], ARGV[2], ARGV[3]
local NSTREAM = 9
wf_notes = KEYS[6]
wf_watched = KEYS[7]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job

-- Fencing for the whole batch: this consumer's pending entries, with their delivery counts
-- (a reclaim elsewhere changes the owner, one here the count). A consumer holds few.
local held = {}
for level in string.gmatch(ARGV[4], '%d+') do
  level = tonumber(level)
  local mine = {}
  for _, p in ipairs(redis.call('XPENDING', KEYS[NSTREAM + level], group, '-', '+', 1000000, consumer)) do
    mine[p[1]] = tostring(p[4])
  end
  held[level] = mine
end

-- Which jobs this caller may record, and the entries to acknowledge.
-- Accepted jobs in parallel lists (no table per job): id, has-record flag, ttl, record arg index, taken.
local out, acked = {}, {}
local ids, recs, ttls, args, taken = {}, {}, {}, {}, {}
local n = 0
for i = 5, #ARGV, 2 do
  local spec = ARGV[i]
  local a = string.find(spec, '|', 1, true)
  local b = string.find(spec, '|', a + 1, true)
  local c = string.find(spec, '|', b + 1, true)
  local d = string.find(spec, '|', c + 1, true)
  local e = string.find(spec, '|', d + 1, true)
  local level, entry, token = tonumber(string.sub(spec, 1, a - 1)), string.sub(spec, a + 1, b - 1), string.sub(spec, b + 1, c - 1)
  local count = entry ~= '' and held[level] and held[level][entry]
  if entry == '' or (count and (token == '' or count == token)) then
    local id = string.sub(spec, e + 1)
    if id == '' then id = entry end
    if entry ~= '' then
      local list = acked[level]
      if not list then
        list = {}
        acked[level] = list
      end
      list[#list + 1] = entry
    end
    n = n + 1
    ids[n], recs[n], ttls[n], args[n], taken[n] = id, tonumber(string.sub(spec, c + 1, d - 1)) % 2 == 1, string.sub(spec, d + 1, e - 1), i + 1, entry == ''
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end

-- Acknowledging comes first: on a full Redis, a script that has already written may go on
-- writing past maxmemory (Redis keeps scripts atomic), so a worker can drain a full Redis.
-- (A taken job has no entry: its record's DEL below is its first write.)
for level, list in pairs(acked) do redis.call('XACK', KEYS[NSTREAM + level], group, unpack(list)) end

-- Aborts asked for and result waiters are rare: one look each spares a lookup per job.
local aborting = redis.call('SCARD', KEYS[4]) > 0
local no_waiters = redis.call('ZCARD', KEYS[3]) == 0
if not no_waiters then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms())
  no_waiters = redis.call('ZCARD', KEYS[3]) == 0
end
local full_groups = redis.call('EXISTS', KEYS[8]) == 1
local ring = false
for k = 1, n do
  local id = ids[k]
  if recs[k] then
    if full_groups and not ring then ring = of_full_group(KEYS[2] .. id, KEYS[8]) end
    redis.call('DEL', KEYS[2] .. id)
  end
  if taken[k] then redis.call('HDEL', KEYS[5], id) end
  -- An abort asked for may have raced the outcome: the request ends with the job either way.
  if aborting then redis.call('SREM', KEYS[4], id) end
  store_result(KEYS[1], KEYS[3], channel, id, ARGV[args[k]], ttls[k], no_waiters)
end

-- Acknowledged entries leave the stream. Entries are read in order, so every entry older than
-- the oldest one still pending was delivered and acknowledged: trimming that prefix frees
-- whole nodes at once, where XDEL one by one would scan each node again per entry. Only the
-- entries of this batch above that point (behind a job that is still running) are deleted
-- one by one.
for level, list in pairs(acked) do
  local stream = KEYS[NSTREAM + level]
  local floor = redis.call('XPENDING', stream, group)[2]
  if floor then
    local fms, fseq = id_parts(floor)
    local above = {}
    for _, e in ipairs(list) do
      local ms, seq = id_parts(e)
      if ms > fms or (ms == fms and seq >= fseq) then above[#above + 1] = e end
    end
    if #above > 0 then redis.call('XDEL', stream, unpack(above)) end
  else
    -- Nothing pending: everything up to the newest entry acknowledged here was delivered.
    local nms, nseq = id_parts(list[1])
    for k = 2, #list do
      local ms, seq = id_parts(list[k])
      if ms > nms or (ms == nms and seq > nseq) then nms, nseq = ms, seq end
    end
    floor = string.format('%d-%d', nms, nseq + 1)
  end
  redis.call('XTRIM', stream, 'MINID', floor)
end
if ring then ring_bell(KEYS[9]) end
return out
