-- groups: creates the queue's consumer group on each of its streams where it is missing
-- (reading from the start). Nothing is written where it exists, and the creation goes first by
-- an XACK that acknowledges nothing: on a full Redis, a script that has written may go on past
-- maxmemory, so a worker can start on a queue a producer filled Redis with before any worker ran.
-- KEYS: streams...
-- ARGV: group
-- Returns: number of groups created

local created = 0
for i = 1, #KEYS do
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[i])
  local found = false
  if type(groups) == 'table' and not groups.err then
    for _, g in ipairs(groups) do
      for k = 1, #g, 2 do
        if g[k] == 'name' and g[k + 1] == ARGV[1] then found = true end
      end
    end
  end
  if not found then
    redis.call('XACK', KEYS[i], ARGV[1], '0-0')
    redis.call('XGROUP', 'CREATE', KEYS[i], ARGV[1], '0', 'MKSTREAM')
    created = created + 1
  end
end
return created
