-- fetch: delivers up to `count` new entries to a consumer, highest priority stream first,
-- creating a stream's consumer group (reading from the start) where it is missing; nothing
-- while the queue is paused or held (ctx.rateLimit: `hold` set for a while). With a global
-- concurrency `cap` (> 0), the queue's jobs held by all workers (the group's pending entries on
-- every stream, and at-most-once jobs off their stream) never exceed it: it delivers only the
-- permits left, none when they are all out. With a rate limit (`rate_max` jobs per `rate_per`
-- ms, > 0), a token bucket in `rate` (tokens `t` at server ms `at`, full at rate_max, refilled
-- continuously) is spent by what it delivers; with too few tokens it delivers nothing and says
-- how long until there are enough for a batch of at most 10 ms worth (and at least one).
-- KEYS: paused, taken, rate, hold, streams... (highest priority first)
-- ARGV: group, consumer, count, cap, rate_max, rate_per
-- Returns: a flat list, 5 values per entry: level, entry id, header (false if missing), data
--   (false if missing), deaths carried over a hand-back ('' if none); {-1} when paused; {-4, ms}
--   when held or rate limited for ms more; with a cap, {-2} when no permit is left; with a cap or
--   a rate limit, {-3, last entry id per stream...} when it delivered nothing for want of
--   entries (a reader waits for entries after those ids, then asks again)

-- @include lib

local group, consumer, want, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local rate_max, rate_per = tonumber(ARGV[5]), tonumber(ARGV[6])
local FIRST = 5
-- Neither paused nor held (the common case): one command.
if redis.call('EXISTS', KEYS[1], KEYS[4]) > 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then return { -1 } end
  local hold = redis.call('PTTL', KEYS[4])
  if hold > 0 then return { -4, hold } end
end
if cap > 0 then
  local held = redis.call('HLEN', KEYS[2])
  for i = FIRST, #KEYS do
    local p = redis.pcall('XPENDING', KEYS[i], group)
    if type(p) == 'table' and not p.err then held = held + p[1] end
  end
  if held >= cap then return { -2 } end
  if cap - held < want then want = cap - held end
end
local now, tokens
if rate_max > 0 then
  now = now_ms()
  local st = redis.call('HMGET', KEYS[3], 't', 'at')
  tokens = tonumber(st[1]) or rate_max
  local at = tonumber(st[2]) or now
  if now > at then tokens = math.min(rate_max, tokens + (now - at) * rate_max / rate_per) end
  local batch = math.max(1, math.min(want, math.floor(rate_max * 10 / rate_per)))
  if tokens < batch then return { -4, math.max(1, math.ceil((batch - tokens) * rate_per / rate_max)) } end
  if math.floor(tokens) < want then want = math.floor(tokens) end
end
local out = {}
for i = FIRST, #KEYS do
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
      out[n + 1], out[n + 2], out[n + 3], out[n + 4], out[n + 5] = i - FIRST + 1, e[1], h, d, r
      n = n + 5
      want = want - 1
    end
  end
end
if rate_max > 0 and #out > 0 then
  -- Spent by what was delivered; kept while it matters (a bucket left alone refills to full).
  redis.call('HSET', KEYS[3], 't', tostring(tokens - #out / 5), 'at', now)
  redis.call('PEXPIRE', KEYS[3], rate_per * 2 + 1000)
end
if (cap > 0 or rate_max > 0) and #out == 0 then
  out[1] = -3
  for i = FIRST, #KEYS do
    local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
    out[i - FIRST + 2] = last[1] and last[1][1] or '0-0'
  end
end
return out
