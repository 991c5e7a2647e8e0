-- heartbeat: records that a worker is alive, by server time, with its registry entry.
-- KEYS: workers, worker
-- ARGV: id, entry (JSON), ttl (ms)
-- Returns: server time in ms

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Extending the entry first also lets the beat land on a full Redis: once a script has written,
-- Redis lets it go on past maxmemory (a worker draining a full Redis must not look dead).
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return now
