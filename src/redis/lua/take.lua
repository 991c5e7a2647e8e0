-- take: for at-most-once tasks, acknowledges and removes a job's entry before it runs, so
-- it can never run twice; the job record says it is running, on which worker, until its
-- outcome lands, and keeps the job's fields so that a worker's death can be dead-lettered
-- with the job (reason 'interrupted', by dropworker.lua). The taken set lists such jobs.
-- KEYS: job_prefix, stream, taken
-- ARGV: group, consumer, entry, token, id, level
-- Returns: 1 if taken (also for a take sent again after its reply was lost), 0 if the lease was lost
-- @include lib

local stream, group, consumer, entry, id = KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local rec = KEYS[1] .. id
if not holds(stream, group, entry, consumer, ARGV[4]) then
  -- The client re-sends a call whose reply was lost: this consumer's own take already happened.
  local v = redis.call('HMGET', rec, 'st', 'w', 'e')
  if v[1] == 'running' and v[2] == consumer and v[3] == entry then return 1 end
  return 0
end
local f = entry_fields(stream, entry) or {}
redis.call('XACK', stream, group, entry)
redis.call('XDEL', stream, entry)
redis.call('HSET', rec, 'st', 'running', 'l', ARGV[6], 'w', consumer, 'e', entry, 'h', f.h or '', 'd', f.d or '')
redis.call('HSET', KEYS[3], id, consumer .. '|' .. now_ms())
return 1
