-- groupctl: pauses, resumes or holds one group of a queue (fair.lua). A paused group leaves the
-- ring and joins it again when resumed (if it has jobs and neither rests nor is full); a held
-- group rests until the hold ends (a longer rest already set stands).
-- KEYS: group_prefix, ring, rest, full, paused_groups, bell
-- ARGV: action ('pause', 'resume' or 'hold'), group, ms (for a hold)
-- Returns: 1
-- @include lib
-- @include fair

fair = { list = KEYS[1], ring = KEYS[2], rest = KEYS[3], full = KEYS[4], paused = KEYS[5], bell = KEYS[6] }
local action, g = ARGV[1], ARGV[2]
if action == 'pause' then
  redis.call('SADD', fair.paused, g)
  redis.call('ZREM', fair.ring, g)
elseif action == 'resume' then
  if redis.call('SREM', fair.paused, g) == 1 and redis.call('EXISTS', fair.list .. g) == 1 then
    fair_join(g)
    fair_ring_bell()
  end
else
  redis.call('ZADD', fair.rest, 'GT', now_ms() + tonumber(ARGV[3]), g)
  redis.call('ZREM', fair.ring, g)
end
return 1
