-- Fair groups (docs/flow-control.md#fair-groups), spliced where a script says `-- @include fair`.
-- A group's waiting job ids are a list (`list .. key`); the groups with jobs to serve are the
-- ring, scored by turn (served lowest first, each given the turn after the last when served);
-- a group held or out of tokens rests (a sorted set scored by when it may be served again), one
-- at its concurrency cap is full, a paused one is marked: none of those is in the ring. A job
-- waiting in a group has a record 'grouped' holding its header, data, level and group.
-- The script sets `fair` to its keys first: { list, ring, rest, full, paused, bell }.
local fair
local fair_joined = {}

-- The turn after the ring's last (1 for an empty ring).
local function fair_next_turn()
  local last = redis.call('ZRANGE', fair.ring, -1, -1, 'WITHSCORES')
  return (tonumber(last[2]) or 0) + 1
end

-- A group with jobs joins the ring at its end, unless it is in it, resting, full or paused.
local function fair_join(g)
  if redis.call('ZSCORE', fair.ring, g) then return end
  if redis.call('ZSCORE', fair.rest, g) or redis.call('SISMEMBER', fair.full, g) == 1 or redis.call('SISMEMBER', fair.paused, g) == 1 then return end
  redis.call('ZADD', fair.ring, fair_next_turn(), g)
end

-- A group whose list emptied leaves wherever it was (its pause mark stays).
local function fair_leave(g)
  redis.call('ZREM', fair.ring, g)
  redis.call('ZREM', fair.rest, g)
  redis.call('SREM', fair.full, g)
end

-- Tells waiting capped reads that jobs joined a group (lib's bell).
local function fair_ring_bell()
  ring_bell(fair.bell)
end

-- Puts job `id` (record `rec`) at the end of group g's list, waiting at `level`: `h` and `d`
-- its header and data. The group joins the ring (looked up once per group per call).
local function fair_add(g, id, rec, level, h, d)
  redis.call('HSET', rec, 'st', 'grouped', 'l', level, 'h', h, 'd', d, 'g', g)
  redis.call('HDEL', rec, 'e')
  redis.call('RPUSH', fair.list .. g, id)
  if not fair_joined[g] then
    fair_join(g)
    fair_joined[g] = true
  end
end

-- The group named in a header's options ("id|task|attempt|sig|opts", opts JSON with "g"), or nil.
local function fair_group_of(h)
  if not h or not string.find(h, '"g":', 1, true) then return nil end
  local d = 0
  for _ = 1, 4 do
    d = string.find(h, '|', d + 1, true)
    if not d then return nil end
  end
  local ok, opts = pcall(cjson.decode, string.sub(h, d + 1))
  if ok and type(opts) == 'table' and type(opts.g) == 'string' and opts.g ~= '' then return opts.g end
  return nil
end
