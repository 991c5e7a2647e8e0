-- replay: puts dead-lettered jobs back on their ready stream (optionally with their attempts
-- reset), clears their failed result and removes them from the dead-letter stream. A job of a
-- group (its header's options name it) goes back to the end of its group's list (fair.lua).
-- KEYS: dlq, last_id, job_prefix, result_prefix, group_prefix, ring, rest, full, paused_groups,
--       bell, streams...
-- ARGV: reset_attempts ('1' or '0'), default_level, then dead-letter entry ids...
-- Returns: ids of the jobs put back
-- @include lib
-- @include fair

local NSTREAM = 10
fair = { list = KEYS[5], ring = KEYS[6], rest = KEYS[7], full = KEYS[8], paused = KEYS[9], bell = KEYS[10] }
local nstreams = #KEYS - NSTREAM
local grouped = false
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
    local g = fair_group_of(h)
    if g then
      fair_add(g, id, KEYS[3] .. id, level, header_with(h, id, nil), f.d or '')
      grouped = true
    else
      redis.call('XADD', KEYS[NSTREAM + level], entry, 'h', h, 'd', f.d or '')
      if id ~= entry then redis.call('HSET', KEYS[3] .. id, 'st', 'queued', 'l', level, 'e', entry) end
    end
    redis.call('DEL', KEYS[4] .. id)
    redis.call('XDEL', KEYS[1], ARGV[i])
    out[#out + 1] = id
  end
end
id_end()
if grouped then fair_ring_bell() end
return out
