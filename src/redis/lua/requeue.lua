-- requeue: hands jobs a stopping worker holds (running or prefetched) straight back to
-- their ready stream as new entries, without spending an attempt.
-- KEYS: last_id, job_prefix, streams...
-- ARGV: group, consumer, then per job 4 values: level, entry, token ('' for any), id ('' to
--       take it from the header)
-- Returns: number of jobs handed back
-- @include lib

local group, consumer = ARGV[1], ARGV[2]
id_begin(KEYS[1], now_ms())
local n = 0
for i = 3, #ARGV, 4 do
  local level, entry, token, id = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local stream = KEYS[2 + level]
  if holds(stream, group, entry, consumer, token) then
    local f = entry_fields(stream, entry)
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    if f and f.h then
      if id == '' then id = header_id(f.h) end
      if id == '' then id = entry end
      local next_entry = id_next()
      redis.call('XADD', stream, next_entry, 'h', header_with(f.h, id, nil), 'd', f.d or '')
      redis.call('HSET', KEYS[2] .. id, 'st', 'queued', 'l', level, 'e', next_entry)
      n = n + 1
    end
  end
end
id_end()
return n
