-- wfcreate: writes a new workflow at stage 0, nothing enqueued yet (the caller enqueues stage
-- 0, then calls wfstarted). Answers 0 when a workflow with this id exists: it is left as it is.
-- Fields: state, reason, stage (current), started (last stage enqueued), pending (nodes of the
-- current stage not settled), n (stages), created, ended, ttl; per stage k: z<k> size,
-- p<k> failure policy, m<k> how its outcome passes on, d<k> its nodes (JSON).
-- KEYS: wf
-- ARGV: ttl, stages
-- then per stage: size, policy, mode, nodes
-- @include lib
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'state', 'running', 'reason', '', 'stage', 0, 'started', -1, 'pending', ARGV[3],
  'n', n, 'created', now_ms(), 'ended', '', 'ttl', ARGV[1])
for k = 0, n - 1 do
  local b = 3 + k * 4
  redis.call('HSET', KEYS[1], 'z' .. k, ARGV[b], 'p' .. k, ARGV[b + 1], 'm' .. k, ARGV[b + 2], 'd' .. k, ARGV[b + 3])
end
return 1
