-- heartbeat: records that a worker is alive, by server time, with its registry entry.
-- KEYS: workers, worker
-- ARGV: id, entry (JSON), ttl (ms)
-- Returns: server time in ms

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return now
