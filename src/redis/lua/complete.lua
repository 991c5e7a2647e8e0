-- complete: records the outcome of a batch of finished jobs (completed, aborted, failed
-- without dead-lettering, expired) and acknowledges their entries, unless the caller no
-- longer holds an entry's lease (fencing), in which case that job is left alone.
-- KEYS: result_prefix, job_prefix, waiter_prefix, aborting, streams...
-- ARGV: group, consumer, done_channel, then per job 7 values: level, entry ('' when the
--       entry was already taken), token, id, record, ttl, flags (1: has a job record,
--       2: abort was requested)
-- Returns: per job, 1 if recorded or 0 if refused
-- @include lib

local group, consumer, channel = ARGV[1], ARGV[2], ARGV[3]
local out = {}
for i = 4, #ARGV, 7 do
  local level, entry, token, id, record, ttl, flags =
    tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6])
  local stream = KEYS[4 + level]
  if entry == '' or holds(stream, group, entry, consumer, token) then
    if entry ~= '' then
      redis.call('XACK', stream, group, entry)
      redis.call('XDEL', stream, entry)
    end
    if flags % 2 == 1 then redis.call('DEL', KEYS[2] .. id) end
    if flags >= 2 then redis.call('SREM', KEYS[4], id) end
    store_result(KEYS[1], KEYS[3], channel, id, record, ttl)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
