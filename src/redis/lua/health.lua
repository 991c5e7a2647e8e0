-- health: writes a worker's health record for one queue, expiring after ttl.
-- KEYS: health (the worker's health key in the queue's slot)
-- ARGV: record (JSON), ttl (ms)
-- Returns: 1

-- Extending the record first lets it land on a full Redis (see heartbeat.lua): other workers
-- judge this one alive by it.
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
