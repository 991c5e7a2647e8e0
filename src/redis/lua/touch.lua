-- touch: renews the leases of the entries a worker holds (resets their idle time without
-- counting a delivery) and reports the ones it lost and the ones asked to abort.
-- KEYS: aborting, streams...
-- ARGV: group, consumer, then per job 4 values: level, entry, token, id
-- Returns: {lost ids, ids whose abort was requested}
-- @include lib

local group, consumer = ARGV[1], ARGV[2]
local lost, abort = {}, {}
for i = 3, #ARGV, 4 do
  local level, entry, token, id = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local stream = KEYS[1 + level]
  if holds(stream, group, entry, consumer, token) then
    redis.call('XCLAIM', stream, group, consumer, 0, entry, 'JUSTID')
    if redis.call('SISMEMBER', KEYS[1], id) == 1 then abort[#abort + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return { lost, abort }
