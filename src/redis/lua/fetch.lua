-- fetch: delivers up to `count` new entries to a consumer, highest priority stream first,
-- creating a stream's consumer group (reading from the start) where it is missing; nothing
-- while the queue is paused or held (ctx.rateLimit: `hold` set for a while). With a global
-- concurrency `cap` (> 0), the queue's jobs held by all workers (the group's pending entries on
-- every stream, and at-most-once jobs off their stream) never exceed it: it delivers only the
-- permits left, none when they are all out. With a rate limit (`rate_max` jobs per `rate_per`
-- ms, > 0), a token bucket in `rate` (tokens `t` at server ms `at`, full at rate_max, refilled
-- continuously) is spent by what it delivers; with too few tokens it delivers nothing and says
-- how long until there are enough for a batch of at most 10 ms worth (and at least one).
-- Fair groups (fair.lua): when the streams hold fewer entries than it may deliver, it serves
-- the groups of the ring, one job per group per turn (its weight's worth for a group weighted
-- in group_limits; with fewer groups than room, a group's
-- turns of this call at once: one LPOP of several), each group within `group_cap` held jobs
-- (its held set: ids whose record is still queued or running) and `group_rate_max` per
-- `group_rate_per` ms (a bucket per group, as the queue's), or the limits the group has of its
-- own (`group_limits`, set by groupctl.lua); a group at its cap goes full, one
-- out of tokens rests until it has one. A served job gets a new entry on its level's stream
-- and is delivered with the rest.
-- KEYS: paused, taken, rate, hold, job_prefix, last_id, held_prefix, group_rate_prefix,
--       group_limits (a group's own limits over the queue's: "cap|max|per|weight", '' for the
--       queue's, 0 for none), group_credit (what is left of a weighted group's turn),
--       group_prefix, ring, rest, full, paused_groups, bell, streams... (highest priority first)
-- ARGV: group, consumer, count, cap, rate_max, rate_per, grouped (1: a grouped queue, whose
--       empty fetch says why as a capped one does), group_cap, group_rate_max, group_rate_per
-- Returns: a flat list, 5 values per entry: level, entry id, header (false if missing), data
--   (false if missing), deaths carried over a hand-back ('' if none); {-1} when paused; {-4, ms}
--   when the queue is held or rate limited for ms more, {-4, ms, last entry id per stream...,
--   the bell's last id} when every group with jobs rests for ms more (a reader may wait that
--   long for a job of another group); {-2} when the queue's cap has no permit left, {-2, last
--   entry id per stream..., the bell's last id} when a group with jobs is at its cap (its
--   permit's return rings the bell); with a cap, a rate limit or groups, {-3, last entry id per stream...,
--   the bell's last id} when it delivered nothing for want of entries (a reader waits for
--   entries after those ids, then asks again)

-- @include lib
-- @include fair

local group, consumer, want, cap = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local rate_max, rate_per = tonumber(ARGV[5]), tonumber(ARGV[6])
local grouped, group_cap = ARGV[7] == '1', tonumber(ARGV[8])
local group_rate_max, group_rate_per = tonumber(ARGV[9]), tonumber(ARGV[10])
local FIRST = 17
local JOB, HELD, GRATE, GLIMITS, GCREDIT = KEYS[5], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
fair = { list = KEYS[11], ring = KEYS[12], rest = KEYS[13], full = KEYS[14], paused = KEYS[15], bell = KEYS[16] }
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

-- A token bucket (hash: tokens `t` at server ms `at`): its tokens now, refilled since.
local function bucket(key, max, per, now)
  local st = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(st[1]) or max
  local at = tonumber(st[2]) or now
  if now > at then tokens = math.min(max, tokens + (now - at) * max / per) end
  return tokens
end
-- Spent down to `tokens`; kept while it matters (a bucket left alone refills to full).
local function bucket_set(key, tokens, per, now)
  redis.call('HSET', key, 't', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', key, per * 2 + 1000)
end

local now, tokens
if rate_max > 0 then
  now = now_ms()
  tokens = bucket(KEYS[3], rate_max, rate_per, now)
  local batch = math.max(1, math.min(want, math.floor(rate_max * 10 / rate_per)))
  if tokens < batch then return { -4, math.max(1, math.ceil((batch - tokens) * rate_per / rate_max)) } end
  if math.floor(tokens) < want then want = math.floor(tokens) end
end

local out = {}
-- Reads up to `want` new entries of the streams into `out`, highest priority first.
local function read_streams()
  for i = FIRST, #KEYS do
    if want <= 0 then return end
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
end
read_streams()

-- @include fairfetch

if want > 0 and redis.call('EXISTS', fair.ring, fair.rest, fair.full) > 0 then
  local fed = serve_groups()
  if fed > 0 then
    want = fed
    read_streams()
  end
end
if rate_max > 0 and #out > 0 then
  bucket_set(KEYS[3], tokens - #out / 5, rate_per, now)
end
if #out == 0 and (cap > 0 or rate_max > 0 or grouped) then
  out[1] = -3
  if grouped then
    if redis.call('EXISTS', fair.full) == 1 then
      -- A group with jobs is at its cap: where to wait for the bell its permit's return rings.
      out[1] = -2
    else
      -- Every group with jobs rests: how long until the first may be served, and (below) where
      -- to wait meanwhile for a job of another group.
      local rest = redis.call('ZRANGE', fair.rest, 0, 0, 'WITHSCORES')
      if rest[2] then out[1], out[2] = -4, math.max(1, tonumber(rest[2]) - (now or now_ms())) end
    end
  end
  local n = #out
  for i = FIRST, #KEYS do
    local last = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
    out[n + i - FIRST + 1] = last[1] and last[1][1] or '0-0'
  end
  local bell = redis.call('XREVRANGE', fair.bell, '+', '-', 'COUNT', 1)
  out[#out + 1] = bell[1] and bell[1][1] or '0-0'
end
return out
