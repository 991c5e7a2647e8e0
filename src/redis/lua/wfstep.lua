-- wfstep: settles one node of a workflow, once however often it is called (a node's job may
-- run twice: a retry after a crash, a reclaim, a duplicate delivery). The node's record in
-- `results` ('v' value, 'e' error, 'x' left out) or `failed` is its once-only mark; the
-- stage's pending count moves only when that mark is new, so the stage advances exactly once.
-- Answers {'start', k, nodes} whenever stage k is current and not marked started:
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

-- Stage k's nodes. What they receive of stage k-1 the caller reads itself, in pages (results):
-- the stage's records no longer change, and reading 100,000 of them here would hold Redis.
local function start(k)
  return {'start', k, redis.call('HGET', wf, 'd' .. k)}
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
  -- A failed node replayed from the dead-letter queue completed: with no failure left, the
  -- workflow runs on (a running workflow has no failed node: nothing to look up).
  if state == 'failed' and redis.call('HDEL', fails, field) == 1 then
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
