-- pause: pauses or resumes a queue and tells its workers (on its abort channel, where a
-- message holding '|' is never a job id).
-- KEYS: paused
-- ARGV: paused ('1' pause, '0' resume), channel
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], '1')
  redis.call('PUBLISH', ARGV[2], '|pause')
else
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], '|resume')
end
return 1
