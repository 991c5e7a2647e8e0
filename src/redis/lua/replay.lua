-- replay: puts dead-lettered jobs back on their ready stream (optionally with their attempts
-- reset), clears their failed result and removes them from the dead-letter stream.
-- KEYS: dlq, last_id, job_prefix, result_prefix, streams...
-- ARGV: reset_attempts ('1' or '0'), default_level, then dead-letter entry ids...
-- Returns: ids of the jobs put back
-- @include lib

local nstreams = #KEYS - 4
id_begin(KEYS[2], now_ms())
local out = {}
for i = 3, #ARGV do
  local f = entry_fields(KEYS[1], ARGV[i])
  if f then
    local level = math.max(1, math.min(nstreams, tonumber(f.level) or tonumber(ARGV[2])))
    local h = f.h or ''
    if ARGV[1] == '1' then h = header_with(h, nil, '0') end
    local entry = id_next()
    local id = header_id(h)
    if id == '' then id = entry end
    redis.call('XADD', KEYS[4 + level], entry, 'h', h, 'd', f.d or '')
    if id ~= entry then redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry) end
    redis.call('DEL', KEYS[4] .. id)
    redis.call('XDEL', KEYS[1], ARGV[i])
    out[#out + 1] = id
  end
end
id_end()
return out
