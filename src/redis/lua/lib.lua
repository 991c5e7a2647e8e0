-- Shared helpers, spliced into a script where it says `-- @include lib`.

-- Milliseconds on the Redis server's clock: the one clock every worker agrees on.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Entry ids grow across all of a queue's streams (not per stream), so an auto job id,
-- which is its first entry id, names exactly one entry. Begin once, next per entry, end once.
-- A shard of a sharded queue (its key ends ":<shard>/<shards>") hands out only sequence
-- numbers equal to its index modulo the shard count: an auto id names its shard.
local id_key, id_ms, id_seq, id_used, id_prefix
local id_step = 1
local function id_begin(key, now)
  local shard, shards = string.match(key, ':(%d+)/(%d+)$')
  id_step = shards and tonumber(shards) or 1
  id_key, id_ms, id_seq, id_used = key, now, (shard and tonumber(shard) or 0) - id_step, false
  local last = redis.call('GET', key)
  if last then
    local dash = string.find(last, '-', 1, true)
    local lms = tonumber(string.sub(last, 1, dash - 1))
    if lms >= now then
      id_ms = lms
      id_seq = tonumber(string.sub(last, dash + 1))
    end
  end
end
local function id_next()
  if not id_used then
    id_prefix = string.format('%d-', id_ms)
    id_used = true
  end
  id_seq = id_seq + id_step
  return id_prefix .. string.format('%d', id_seq) -- integer formatting: cheaper than a number's tostring
end
local function id_end()
  if id_used then redis.call('SET', id_key, id_prefix .. string.format('%d', id_seq)) end
end

-- A stream entry id "ms-seq" as two numbers.
local function id_parts(e)
  local dash = string.find(e, '-', 1, true)
  return tonumber(string.sub(e, 1, dash - 1)), tonumber(string.sub(e, dash + 1))
end

-- A job header is "id|task|attempt|sig|opts". The id is empty for a plain job, whose id is
-- its entry id. Returns the header with id and/or attempt replaced; a malformed header is
-- returned unchanged (the worker dead-letters it when it reads it).
local function header_with(h, id, attempt)
  local a = string.find(h, '|', 1, true)
  if not a then return h end
  local b = string.find(h, '|', a + 1, true)
  if not b then return h end
  local c = string.find(h, '|', b + 1, true)
  if not c then return h end
  if id == nil or id == '' then id = string.sub(h, 1, a - 1) end
  if attempt == nil then attempt = string.sub(h, b + 1, c - 1) end
  return id .. '|' .. string.sub(h, a + 1, b - 1) .. '|' .. attempt .. '|' .. string.sub(h, c + 1)
end

local function header_id(h)
  local a = string.find(h, '|', 1, true)
  if not a then return '' end
  return string.sub(h, 1, a - 1)
end

-- Fields of one stream entry as a table, or nil when the entry is gone.
local function entry_fields(stream, entry)
  local r = redis.call('XRANGE', stream, entry, entry)
  if #r == 0 or not r[1][2] then return nil end
  local f, out = r[1][2], {}
  for i = 1, #f, 2 do out[f[i]] = f[i + 1] end
  return out
end

-- Fencing: true when `consumer` still holds the pending entry with delivery count `token`
-- (a reclaim elsewhere changes the owner, a reclaim by this same consumer the count).
local function holds(stream, group, entry, consumer, token)
  local p = redis.call('XPENDING', stream, group, entry, entry, 1)
  local e = p[1]
  return e ~= nil and e[2] == consumer and (token == '' or tostring(e[4]) == token)
end

-- Stores a job's outcome record for `ttl` seconds (-1 forever, 0 not kept) and wakes
-- whoever waits for it (a member of the `waiters` sorted set; pass `no_waiters` true when the
-- caller saw that set empty). A result nobody keeps is still kept a minute for a waiter.
-- The queue's workflow notes (a hash id -> outcome meta), where a script that may end a
-- workflow node's job (one whose record says its place `w`, from with_job) sets it: such a job
-- ends where no worker settles it in its workflow, so its ending is noted for a worker's
-- recoverer to settle (src/worker/recover.ts), written in the same step as the record.
-- A job a workflow waits on (after(): the queue's `watch` hash names it, with the places
-- waiting) is noted too, under '@' .. id, with the places and its whole record (its value goes
-- to them); the watch stays after a failure, so a replay that completes it is noted again.
-- `wf_placed` is set by the scripts whose records may carry a place (built here by with_job, or
-- the worker's retry-abort record): complete and dead record what a worker settled itself, and
-- spare every completion the look.
local wf_notes, wf_watched, wf_placed
local function store_result(result_prefix, waiters, channel, id, record, ttl, no_waiters)
  if wf_notes then
    if wf_placed then
      local nl = string.find(record, '\n', 1, true)
      local head = nl and string.sub(record, 1, nl - 1) or record
      if string.find(head, ',"w":[', 1, true) then redis.call('HSET', wf_notes, id, head) end
    end
    if wf_watched then
      local places = redis.call('HGET', wf_watched, id)
      if places then
        redis.call('HSET', wf_notes, '@' .. id, places .. '\n' .. record)
        if string.sub(record, 1, 10) == 'completed|' then redis.call('HDEL', wf_watched, id) end
      end
    end
  end
  local waiting = not no_waiters and redis.call('ZSCORE', waiters, id) ~= false
  -- The ttl goes to SET as the caller's text: a Lua number would be printed with '%.17g'.
  local seconds = tonumber(ttl)
  if seconds == 0 and waiting then seconds, ttl = 60, '60' end
  if seconds > 0 then
    redis.call('SET', result_prefix .. id, record, 'EX', ttl)
  elseif seconds < 0 then
    redis.call('SET', result_prefix .. id, record)
  end
  if waiting then redis.call('PUBLISH', channel, id) end
end

-- Fair groups (fair.lua): rings the groups bell, a stream of one entry a waiting capped read
-- watches (jobs joined a group, or a permit came back).
local function ring_bell(bell)
  redis.call('XADD', bell, 'MAXLEN', 1, '*', 'b', '1')
end

-- Whether the job of record `rec` is of a fair group at its cap (a member of set `full`): its
-- ending (or retry later) gives that group a permit back.
local function of_full_group(rec, full)
  local g = redis.call('HGET', rec, 'g')
  return g ~= false and redis.call('SISMEMBER', full, g) == 1
end
