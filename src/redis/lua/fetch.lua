-- fetch: delivers up to `count` new entries to a consumer, highest priority stream first,
-- creating a stream's consumer group (reading from the start) where it is missing; nothing
-- while the queue is paused.
-- KEYS: paused, streams... (highest priority first)
-- ARGV: group, consumer, count
-- Returns: a flat list, 5 values per entry: level, entry id, header (false if missing), data
--   (false if missing), deaths carried over a hand-back ('' if none); {-1} when paused

local group, consumer, want = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then return { -1 } end
local out = {}
for i = 2, #KEYS do
  if want <= 0 then break end
  local res = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', KEYS[i], '>')
  if type(res) == 'table' and res.err then
    -- No group yet (see groups.lua: the XACK first lets the creation pass on a full Redis).
    redis.call('XACK', KEYS[i], group, '0-0')
    redis.call('XGROUP', 'CREATE', KEYS[i], group, '0', 'MKSTREAM')
    res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', KEYS[i], '>')
  end
  if res then
    local n = #out
    for _, e in ipairs(res[1][2]) do
      local f, h, d, r = e[2], false, false, ''
      for k = 1, #f, 2 do
        local name = f[k]
        if name == 'h' then h = f[k + 1] elseif name == 'd' then d = f[k + 1] elseif name == 'r' then r = f[k + 1] end
      end
      out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = i - 1, e[1], h, d, r
      n = n + 5
      want = want - 1
    end
  end
end
return out
