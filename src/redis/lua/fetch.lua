-- fetch: delivers up to `count` new entries to a consumer, highest priority stream first,
-- creating a stream's consumer group (reading from the start) where it is missing.
-- KEYS: streams... (highest priority first)
-- ARGV: group, consumer, count
-- Returns: list of {level, entry id, fields}

local group, consumer, want = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  if want <= 0 then break end
  local res = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', KEYS[i], '>')
  if type(res) == 'table' and res.err then
    redis.call('XGROUP', 'CREATE', KEYS[i], group, '0', 'MKSTREAM')
    res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', KEYS[i], '>')
  end
  if res then
    for _, e in ipairs(res[1][2]) do
      out[#out + 1] = { i, e[1], e[2] }
      want = want - 1
    end
  end
end
return out
