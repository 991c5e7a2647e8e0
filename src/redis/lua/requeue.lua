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
    -- Deaths the entry saw go with it in field r, so reclaim still counts them and a poison
    -- job cannot escape by hand-back: every earlier delivery was reclaimed from a dead worker,
    -- and so was the last when the janitor hands back a dead worker's jobs (token '').
    local r = f and tonumber(f.r) or 0
    local p = redis.call('XPENDING', stream, group, entry, entry, 1)[1]
    if p then r = r + tonumber(p[4]) - (token == '' and 0 or 1) end
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    if f and f.h then
      if id == '' then id = header_id(f.h) end
      if id == '' then id = entry end
      local next_entry = id_next()
      if r > 0 then
        redis.call('XADD', stream, next_entry, 'h', header_with(f.h, id, nil), 'd', f.d or '', 'r', r)
      else
        redis.call('XADD', stream, next_entry, 'h', header_with(f.h, id, nil), 'd', f.d or '')
      end
      redis.call('HSET', KEYS[2] .. id, 'st', 'queued', 'l', level, 'e', next_entry)
      n = n + 1
    end
  end
end
id_end()
return n
