-- wfstarted: marks a stage's nodes enqueued (the stage number only grows).
-- KEYS: wf
-- ARGV: stage
local started = tonumber(redis.call('HGET', KEYS[1], 'started'))
if started and started < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'started', ARGV[1]) end
return 1
