-- touch: renews the leases of the entries a worker holds (resets their idle time without
-- counting a delivery) and reports the ones it lost and the ones asked to abort. An entry this
-- worker took off the stream itself (an at-most-once take whose answer is still on its way) is
-- not lost: it is this worker's alone.
-- KEYS: aborting, job_prefix, streams...
-- ARGV: group, consumer, then per job 4 values: level, entry, token, id
-- Returns: {lost ids, ids whose abort was requested}
-- @include lib

local NSTREAM = 3
local group, consumer = ARGV[1], ARGV[2]
local lost, abort = {}, {}
for i = 3, #ARGV, 4 do
  local level, entry, token, id = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local stream = KEYS[NSTREAM + level - 1]
  if holds(stream, group, entry, consumer, token) then
    redis.call('XCLAIM', stream, group, consumer, 0, entry, 'JUSTID')
    if redis.call('SISMEMBER', KEYS[1], id) == 1 then abort[#abort + 1] = id end
  else
    local v = redis.call('HMGET', KEYS[2] .. id, 'st', 'w', 'e')
    if not (v[1] == 'running' and v[2] == consumer and v[3] == entry) then lost[#lost + 1] = id end
  end
end
return { lost, abort }
