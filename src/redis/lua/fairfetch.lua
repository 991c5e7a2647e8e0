-- The group phase of fetch.lua (fair groups, see fair.lua), spliced where it says
-- `-- @include fairfetch`: it uses fetch's keys, arguments, `want`, `now` and its buckets.

-- The jobs group g holds (served, not ended); at the cap, those ended since are forgotten first:
-- a job holds its permit while its record says it runs (taken at most once) or is queued with
-- its entry on its stream or pending (fetched, running, handed back, reclaimed, retried at once).
local function held_by(g, cap)
  local key = HELD .. g
  local n = redis.call('SCARD', key)
  if n < cap then return n end
  for _, id in ipairs(redis.call('SMEMBERS', key)) do
    local v = redis.call('HMGET', JOB .. id, 'st', 'e', 'l')
    local holds = v[1] == 'running'
    if v[1] == 'queued' and v[2] then
      local stream = KEYS[FIRST + (tonumber(v[3]) or 1) - 1]
      if stream then
        holds = #redis.call('XRANGE', stream, v[2], v[2]) > 0
        if not holds then
          local p = redis.pcall('XPENDING', stream, group, v[2], v[2], 1)
          holds = type(p) == 'table' and not p.err and p[1] ~= nil
        end
      end
    end
    if not holds then
      redis.call('SREM', key, id)
      n = n - 1
    end
  end
  return n
end

-- A group's limits and weight (jobs per turn): the queue's (the arguments; weight 1), or its
-- own where it has some (group_limits: "cap|max|per|weight").
local overridden
local function limits_of(g)
  local cap, rmax, rper, weight = group_cap, group_rate_max, group_rate_per, 1
  if overridden == nil then overridden = redis.call('EXISTS', GLIMITS) == 1 end
  if overridden then
    local v = redis.call('HGET', GLIMITS, g)
    local c, m, p, w = string.match(v or '', '^([^|]*)|([^|]*)|([^|]*)|?([^|]*)$')
    if c and c ~= '' then cap = tonumber(c) end
    if m and m ~= '' then rmax, rper = tonumber(m), tonumber(p) or 1 end
    if w and w ~= '' then weight = math.max(1, tonumber(w) or 1) end
  end
  return cap, rmax, rper, weight
end

-- Serves the groups while room is left: a group's job becomes an entry of its level's stream.
local function serve_groups()
  now = now or now_ms()
  for _, g in ipairs(redis.call('ZRANGEBYSCORE', fair.rest, '-inf', now)) do
    redis.call('ZREM', fair.rest, g)
    if redis.call('EXISTS', fair.list .. g) == 1 then fair_join(g) end
  end
  for _, g in ipairs(redis.call('SMEMBERS', fair.full)) do
    local cap = limits_of(g)
    if cap <= 0 or held_by(g, cap) < cap then
      redis.call('SREM', fair.full, g)
      if redis.call('EXISTS', fair.list .. g) == 1 then fair_join(g) end
    end
  end
  local fed = 0
  local nstreams = #KEYS - FIRST + 1
  local ids_begun = false
  local turn = fair_next_turn()
  while want > 0 do
    local turns = redis.call('ZRANGE', fair.ring, 0, want - 1)
    if #turns == 0 then break end
    -- One job per group per turn; with fewer groups than room, each group's turns of this call
    -- taken at once (a fetch delivers its jobs together: the same jobs, fewer commands). A
    -- weighted group's turn is `weight` jobs: it keeps its place until it had them all (what is
    -- left of its turn kept in group_credit across fetches).
    local share = math.max(1, math.floor(want / #turns))
    for _, g in ipairs(turns) do
      if want <= 0 then break end
      local cap, rmax, rper, weight = limits_of(g)
      local credit
      if weight > 1 then credit = tonumber(redis.call('HGET', GCREDIT, g)) or weight end
      local k = math.min(credit or share, want)
      local gtokens
      if rmax > 0 then
        gtokens = bucket(GRATE .. g, rmax, rper, now)
        k = math.min(k, math.floor(gtokens))
      end
      local held = cap > 0 and held_by(g, cap)
      if held and held >= cap then
        redis.call('ZREM', fair.ring, g)
        redis.call('SADD', fair.full, g)
      elseif gtokens and gtokens < 1 then
        redis.call('ZREM', fair.ring, g)
        redis.call('ZADD', fair.rest, now + math.max(1, math.ceil((1 - gtokens) * rper / rmax)), g)
      else
        if held then k = math.min(k, cap - held) end
        local served = 0
        for _, id in ipairs(redis.call('LPOP', fair.list .. g, k) or {}) do
          local rec = JOB .. id
          local v = redis.call('HMGET', rec, 'st', 'h', 'd', 'l')
          if v[1] == 'grouped' and v[2] then
            if not ids_begun then
              id_begin(KEYS[6], now)
              ids_begun = true
            end
            local level = math.max(1, math.min(nstreams, tonumber(v[4]) or 1))
            local entry = id_next()
            redis.call('XADD', KEYS[FIRST + level - 1], entry, 'h', v[2], 'd', v[3] or '')
            redis.call('HSET', rec, 'st', 'queued', 'e', entry, 'l', level)
            redis.call('HDEL', rec, 'h', 'd')
            if held then redis.call('SADD', HELD .. g, id) end
            served = served + 1
          end
        end
        if gtokens and served > 0 then bucket_set(GRATE .. g, gtokens - served, rper, now) end
        fed = fed + served
        want = want - served
        if redis.call('EXISTS', fair.list .. g) == 0 then
          fair_leave(g)
          if credit then redis.call('HDEL', GCREDIT, g) end
        elseif credit and credit - served > 0 then
          redis.call('HSET', GCREDIT, g, credit - served) -- the rest of its turn: it keeps its place
        else
          if credit then redis.call('HDEL', GCREDIT, g) end
          redis.call('ZADD', fair.ring, turn, g)
          turn = turn + 1
        end
      end
    end
  end
  if ids_begun then id_end() end
  return fed
end
