-- enqueue: adds a batch of jobs, each ready (XADD) or delayed (ZADD), skipping custom ids
-- that already exist (as a job or a kept result).
-- KEYS: last_id, delayed, job_prefix, result_prefix, streams... (highest priority first)
-- ARGV: per job, 5 values: level (1-based index into streams), id ('' = auto), tail
--       ("task|attempt|sig|opts"), data, due ('' now, '+ms' relative, 'ms' absolute)
-- Returns: per job, 2 values: id, 1 if added or 0 if it already existed
-- @include lib

local now = now_ms()
id_begin(KEYS[1], now)
local out = {}
for i = 1, #ARGV, 5 do
  local level, id, tail, data, due = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local exists = id ~= '' and (redis.call('EXISTS', KEYS[3] .. id) == 1 or redis.call('EXISTS', KEYS[4] .. id) == 1)
  if exists then
    out[#out + 1] = id
    out[#out + 1] = 0
  else
    local due_at = nil
    if due ~= '' then
      if string.sub(due, 1, 1) == '+' then due_at = now + tonumber(string.sub(due, 2)) else due_at = tonumber(due) end
    end
    if due_at and due_at > now then
      if id == '' then id = id_next() end
      redis.call('HSET', KEYS[3] .. id, 'st', 'delayed', 'l', level, 'h', id .. '|' .. tail, 'd', data)
      redis.call('ZADD', KEYS[2], due_at, id)
    else
      local entry = id_next()
      redis.call('XADD', KEYS[4 + level], entry, 'h', id .. '|' .. tail, 'd', data)
      if id == '' then
        id = entry
      else
        redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry)
      end
    end
    out[#out + 1] = id
    out[#out + 1] = 1
  end
end
id_end()
return out
