-- health: writes a worker's health record for one queue, expiring after ttl; with the worker's
-- totals of jobs ended on the queue (completed not ''), adds what they grew by to the queue's
-- throughput history of the day: two u32 counters per minute of the day (completed, failed).
-- KEYS: health (the worker's health key in the queue's slot), seen, history (the day's key)
-- ARGV: record (JSON), ttl (ms), completed, failed, landed_completed, landed_failed, minute, history_ttl (s), seen_ttl (ms)
-- Returns: 1

-- Extending the record first lets it land on a full Redis (see heartbeat.lua): other workers
-- judge this one alive by it.
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] == '' then return 1 end

-- The growth since the totals this worker's last beat brought (seen), when they are known and
-- lie between the totals the worker knows landed and these: a beat sent again, or one that
-- landed though its reply was lost, counts nothing twice. Else since the landed totals (a first
-- beat, or seen forgotten after an hour without a beat).
local c, f = tonumber(ARGV[3]), tonumber(ARGV[4])
local pc, pf = tonumber(ARGV[5]), tonumber(ARGV[6])
local seen = redis.call('GET', KEYS[2])
if seen then
  local sep = string.find(seen, ':', 1, true)
  if sep then
    local sc, sf = tonumber(string.sub(seen, 1, sep - 1)), tonumber(string.sub(seen, sep + 1))
    if sc and sf and sc >= pc and sf >= pf and sc <= c and sf <= f then pc, pf = sc, sf end
  end
end
local dc, df = math.max(0, c - pc), math.max(0, f - pf)
if dc > 0 or df > 0 then
  if redis.call('EXISTS', KEYS[3]) == 0 then
    -- Made at its full size at once (11,520 bytes): grown a minute at a time, Redis would
    -- reserve up to twice what it holds.
    redis.call('BITFIELD', KEYS[3], 'SET', 'u32', '#2879', 0)
  end
  local m = tonumber(ARGV[7])
  redis.call('BITFIELD', KEYS[3], 'OVERFLOW', 'SAT', 'INCRBY', 'u32', '#' .. (m * 2), dc, 'INCRBY', 'u32', '#' .. (m * 2 + 1), df)
  redis.call('EXPIRE', KEYS[3], ARGV[8])
end
redis.call('SET', KEYS[2], string.format('%d:%d', c, f), 'PX', ARGV[9])
return 1
