-- peek: a chunk of delayed jobs for a scan (search, listings): members of the delayed set by
-- rank, each with its due time and the record's header, level and arguments. Read only.
-- KEYS: delayed, job_prefix
-- ARGV: start, count
-- Returns: flat {id, due, h, l, d, ...} (h, l and d false when the record is gone)

local start = tonumber(ARGV[1])
local members = redis.call('ZRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #members, 2 do
  local v = redis.call('HMGET', KEYS[2] .. members[i], 'h', 'l', 'd')
  out[#out + 1] = members[i]
  out[#out + 1] = members[i + 1]
  out[#out + 1] = v[1]
  out[#out + 1] = v[2]
  out[#out + 1] = v[3]
end
return out
