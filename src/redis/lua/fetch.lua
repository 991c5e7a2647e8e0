-- fetch: delivers up to `count` new entries to a consumer, highest priority stream first,
-- creating a stream's consumer group (reading from the start) where it is missing; nothing
-- while the queue is paused. With a global concurrency `cap` (> 0), the queue's jobs held by
-- all workers (the group's pending entries on every stream, and at-most-once jobs off their
-- stream) never exceed it: it delivers only the permits left, none when they are all out.
-- KEYS: paused, taken, streams... (highest priority first)
-- ARGV: group, consumer, count, cap
-- Returns: a flat list, 5 values per entry: level, entry id, header (false if missing), data
--   (false if missing), deaths carried over a hand-back ('' if none); {-1} when paused; with a
--   cap, {-2} when no permit is left, and {-3, last entry id per stream...} when it delivered
--   nothing for want of entries (a reader waits for entries after those ids, then asks again)

local group, consumer, want, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[1]) == 1 then return { -1 } end
if cap > 0 then
  local held = redis.call('HLEN', KEYS[2])
  for i = 3, #KEYS do
    local p = redis.pcall('XPENDING', KEYS[i], group)
    if type(p) == 'table' and not p.err then held = held + p[1] end
  end
  if held >= cap then return { -2 } end
  if cap - held < want then want = cap - held end
end
local out = {}
for i = 3, #KEYS do
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
      out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = i - 2, e[1], h, d, r
      n = n + 5
      want = want - 1
    end
  end
end
if cap > 0 and #out == 0 then
  out[1] = -3
  for i = 3, #KEYS do
    local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
    out[i - 1] = last[1] and last[1][1] or '0-0'
  end
end
return out
