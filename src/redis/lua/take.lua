-- take: for at-most-once tasks, acknowledges and removes a job's entry before it runs, so
-- it can never run twice; the job record says it is running until its outcome lands.
-- KEYS: job_prefix, stream
-- ARGV: group, consumer, entry, token, id, level
-- Returns: 1 if taken, 0 if the lease was lost
-- @include lib

local stream = KEYS[2]
if not holds(stream, ARGV[1], ARGV[3], ARGV[2], ARGV[4]) then return 0 end
redis.call('XACK', stream, ARGV[1], ARGV[3])
redis.call('XDEL', stream, ARGV[3])
redis.call('HSET', KEYS[1] .. ARGV[5], 'st', 'running', 'l', ARGV[6])
return 1
