-- unschedule: removes a delayed job (or a scheduled retry) before it becomes ready.
-- KEYS: delayed, job_prefix
-- ARGV: id
-- Returns: 1 if it was removed, 0 if it was not delayed

if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('DEL', KEYS[2] .. ARGV[1])
  return 1
end
return 0
