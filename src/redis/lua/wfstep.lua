-- wfstep: settles one node of a workflow, once however often it is called (a node's job may
-- run twice: a retry after a crash, a reclaim, a duplicate delivery). The node's record in
-- `results` ('v' value, 'e' error, 'x' left out) or `failed` is its once-only mark; the
-- stage's pending count moves only when that mark is new, so the stage advances exactly once.
-- Answers {'start', k, nodes, inputs...} whenever stage k is current and not marked started:
-- to the caller that advanced it, and again to a node of stage k-1 run again after a crash
-- before the mark, so the next stage is enqueued however the first caller fared (its nodes
-- have deterministic ids: enqueueing them twice makes them once).
-- A workflow that ends (completed or failed) is announced on "<wf key>:end" for result waiters.
-- KEYS: wf, results, failed
-- ARGV: stage, index, outcome, value, reason
-- @include lib
local wf, res, fails = KEYS[1], KEYS[2], KEYS[3]
local f = redis.call('HMGET', wf, 'state', 'stage', 'started', 'n', 'ttl')
local state = f[1]
if not state then return {'gone'} end
if state == 'aborted' or state == 'completed' then return {state} end
local stage, cur, started, n, ttl = tonumber(ARGV[1]), tonumber(f[2]), tonumber(f[3]), tonumber(f[4]), tonumber(f[5])

-- Stage k's nodes and what it receives of stage k-1.
local function start(k)
  local prev = k - 1
  local out = {'start', k, redis.call('HGET', wf, 'd' .. k)}
  local mode = redis.call('HGET', wf, 'm' .. prev)
  if mode == 'one' then
    out[4] = redis.call('HGET', res, prev .. '.0')
  elseif mode == 'all' then
    local size = tonumber(redis.call('HGET', wf, 'z' .. prev))
    for i = 0, size - 1, 1000 do
      local fields = {}
      for j = i, math.min(size, i + 1000) - 1 do fields[#fields + 1] = prev .. '.' .. j end
      local vals = redis.call('HMGET', res, unpack(fields))
      for j = 1, #vals do out[#out + 1] = vals[j] end
    end
  end
  return out
end

local function keep(ms)
  for _, key in ipairs(KEYS) do
    if ms then redis.call('PEXPIRE', key, ms) else redis.call('PERSIST', key) end
  end
end

if stage ~= cur then
  if stage < cur and started < cur then return start(cur) end
  return {'none'}
end
local field = stage .. '.' .. ARGV[2]
if redis.call('HEXISTS', res, field) == 1 then return {'none'} end
if ARGV[3] == 'ok' then
  redis.call('HSET', res, field, 'v' .. ARGV[4])
  -- A failed node replayed from the dead-letter queue completed: with no failure left, the workflow runs on.
  if redis.call('HDEL', fails, field) == 1 then
    if redis.call('HLEN', fails) == 0 then
      state = 'running'
      redis.call('HSET', wf, 'state', 'running', 'reason', '', 'ended', '')
      keep(nil)
    else
      redis.call('HSET', wf, 'reason', redis.call('HGET', fails, redis.call('HRANDFIELD', fails)))
    end
  end
else
  local policy = redis.call('HGET', wf, 'p' .. stage)
  if policy == 'fail' then
    if redis.call('HSETNX', fails, field, ARGV[5]) == 1 and state == 'running' then
      redis.call('HSET', wf, 'state', 'failed', 'reason', ARGV[5], 'ended', now_ms())
      keep(ttl * 1000)
      redis.call('PUBLISH', wf .. ':end', 'failed')
    end
    return {'failed'}
  end
  redis.call('HSET', res, field, policy == 'continue' and ('e' .. ARGV[4]) or 'x')
end
redis.call('HINCRBY', wf, 'c' .. stage, 1)
local pending = redis.call('HINCRBY', wf, 'pending', -1)
if state ~= 'running' then
  keep(ttl * 1000) -- a failed workflow's keys all expire together, one written just now too
  return {'none'}
end
if pending > 0 then return {'none'} end
if stage == n - 1 then
  redis.call('HSET', wf, 'state', 'completed', 'ended', now_ms())
  keep(ttl * 1000)
  redis.call('PUBLISH', wf .. ':end', 'completed')
  return {'completed'}
end
redis.call('HSET', wf, 'stage', stage + 1, 'pending', redis.call('HGET', wf, 'z' .. (stage + 1)))
return start(stage + 1)
