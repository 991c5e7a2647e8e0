-- complete: records the outcome of a batch of finished jobs (completed, aborted, failed
-- without dead-lettering, expired) and acknowledges their entries, unless the caller no
-- longer holds an entry's lease (fencing), in which case that job is left alone.
-- KEYS: result_prefix, job_prefix, waiter_prefix, aborting, streams...
-- ARGV: group, consumer, done_channel, then per job 7 values: level, entry ('' when the
--       entry was already taken), token, id, record, ttl, flags (1: has a job record)
-- Returns: per job, 1 if recorded or 0 if refused
-- @include lib

local group, consumer, channel = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local acked = {}
for i = 4, #ARGV, 7 do
  local level, entry, token, id, record, ttl, flags =
    tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local stream = KEYS[4 + level]
  if entry == '' or holds(stream, group, entry, consumer, token) then
    if entry ~= '' then
      local list = acked[level]
      if not list then
        list = {}
        acked[level] = list
      end
      list[#list + 1] = entry
    end
    if flags % 2 == 1 then redis.call('DEL', KEYS[2] .. id) end
    -- An abort asked for may have raced the outcome: the request ends with the job either way.
    redis.call('SREM', KEYS[4], id)
    store_result(KEYS[1], KEYS[3], channel, id, record, ttl)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
-- Acknowledged entries leave the stream. Entries are read in order, so every entry older than
-- the oldest one still pending was delivered and acknowledged: trimming that prefix frees
-- whole nodes at once, where XDEL one by one would scan each node again per entry. Only the
-- entries of this batch above that point (behind a job that is still running) are deleted
-- one by one.
for level, list in pairs(acked) do
  local stream = KEYS[4 + level]
  redis.call('XACK', stream, group, unpack(list))
  local summary = redis.call('XPENDING', stream, group)
  local floor = summary[2]
  if not floor then
    -- Nothing pending: everything up to the newest entry acknowledged here was delivered.
    local newest = list[1]
    for _, e in ipairs(list) do
      if id_less(newest, e) then newest = e end
    end
    floor = id_after(newest)
  end
  local above = {}
  for _, e in ipairs(list) do
    if not id_less(e, floor) then above[#above + 1] = e end
  end
  if #above > 0 then redis.call('XDEL', stream, unpack(above)) end
  redis.call('XTRIM', stream, 'MINID', floor)
end
return out
