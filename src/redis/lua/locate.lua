-- locate: where a job is now (read only). Used for status and info.
-- KEYS: delayed, job_prefix, result_prefix, aborting, streams...
-- ARGV: id, group
-- Returns: {state, level, entry, owner, deliveries, idle ms, record (flat hash), result or
--   false, due ms or -1, abort requested 0/1, entry fields (flat) or false}; state is
--   'delayed', 'waiting', 'active', 'ended' (see the result) or 'unknown'

local id, group = ARGV[1], ARGV[2]
local rec = redis.call('HGETALL', KEYS[2] .. id)
local result = redis.call('GET', KEYS[3] .. id)
local aborting = redis.call('SISMEMBER', KEYS[4], id)
local st, level, entry = nil, 0, nil
for i = 1, #rec, 2 do
  if rec[i] == 'st' then st = rec[i + 1] elseif rec[i] == 'l' then level = tonumber(rec[i + 1]) or 1 elseif rec[i] == 'e' then entry = rec[i + 1] end
end
if st == 'delayed' then
  local score = redis.call('ZSCORE', KEYS[1], id)
  return { 'delayed', level, '', '', 0, 0, rec, result, tonumber(score) or -1, aborting }
elseif st == 'grouped' then
  -- Waiting in its group (fair.lua): no entry yet; its envelope is in the record.
  return { 'waiting', level, '', '', 0, 0, rec, result, -1, aborting }
elseif st == 'running' then
  return { 'active', level, '', '', 1, 0, rec, result, -1, aborting }
end
if not entry then
  if result then return { 'ended', 0, '', '', 0, 0, rec, result, -1, aborting } end
  if string.match(id, '^%d+%-%d+$') then
    for i = 5, #KEYS do
      if #redis.call('XRANGE', KEYS[i], id, id) > 0 then
        level, entry = i - 4, id
        break
      end
    end
  end
  if not entry then return { 'unknown', 0, '', '', 0, 0, rec, result, -1, aborting } end
end
local stream = KEYS[4 + level]
local found = redis.call('XRANGE', stream, entry, entry)
local fields = false
if found[1] then fields = found[1][2] end
local p = redis.pcall('XPENDING', stream, group, entry, entry, 1)
if type(p) == 'table' and not p.err and p[1] then
  return { 'active', level, entry, p[1][2], p[1][4], p[1][3], rec, result, -1, aborting, fields }
end
if fields then
  return { 'waiting', level, entry, '', 0, 0, rec, result, -1, aborting, fields }
end
if result then return { 'ended', 0, '', '', 0, 0, rec, result, -1, aborting } end
return { 'unknown', 0, '', '', 0, 0, rec, result, -1, aborting }
