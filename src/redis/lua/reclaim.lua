-- reclaim: takes over entries whose lease expired (their worker died or hung) so they run
-- again; an entry whose workers died more than max_recoveries times is a poison job and
-- goes to the dead-letter stream instead.
-- KEYS: dlq, job_prefix, result_prefix, waiters, streams...
-- ARGV: group, consumer, min_idle (ms), count, max_recoveries, done_channel, queue, ttl,
--       suspect_at (deaths from which a job is suspect), suspect_idle (ms; min idle to claim one)
-- Returns: {claimed: list of {level, entry, fields, token, deaths}, dead: list of job ids}
-- @include lib

local group, consumer, min_idle, budget, max_rec = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local claimed, dead = {}, {}
-- A suspect (it died with a worker before: deaths >= suspect_at) runs alone on its worker, so
-- its next death is its own: one per call, only in a call that claims nothing else, and only
-- once it has been idle suspect_idle (a busy worker leaves it to an idle one for a while).
local suspect_at, suspect_idle = tonumber(ARGV[9]) or (max_rec + 1), tonumber(ARGV[10]) or 0
local suspect
for i = 5, #KEYS do
  local stream = KEYS[i]
  local pending = redis.pcall('XPENDING', stream, group, 'IDLE', min_idle, '-', '+', budget + 20)
  if type(pending) == 'table' and not pending.err then
    for _, p in ipairs(pending) do
      -- Deliveries before a janitor's hand-back (field r) count too.
      local entry, pel = p[1], tonumber(p[4])
      local f = entry_fields(stream, entry)
      local deliveries = pel + (f and tonumber(f.r) or 0)
      if deliveries > max_rec then
        redis.call('XACK', stream, group, entry)
        redis.call('XDEL', stream, entry)
        if f and f.h then
          local id = header_id(f.h)
          if id == '' then id = entry end
          local err = 'worker died while running the job ' .. deliveries .. ' times'
          redis.call('XADD', KEYS[1], '*', 'h', header_with(f.h, id, nil), 'd', f.d or '', 'level', i - 4,
            'reason', 'poison', 'error', 'PoisonJobError: ' .. err, 'stack', '', 'attempts', deliveries,
            'queue', ARGV[7], 'worker', p[2], 'failed_at', now_ms())
          redis.call('DEL', KEYS[2] .. id)
          local record = 'failed|' .. cjson.encode({ name = 'PoisonJobError', message = err, attempts = deliveries, reason = 'poison' }) .. '\n'
          store_result(KEYS[3], KEYS[4], ARGV[6], id, record, ARGV[8])
          dead[#dead + 1] = id
        end
      elseif deliveries < suspect_at then
        -- Past the budget (0 for a full worker) only poison and suspects are looked at.
        if budget > 0 then
          local c = redis.call('XCLAIM', stream, group, consumer, min_idle, entry)
          if c[1] and c[1][2] then
            claimed[#claimed + 1] = { i - 4, entry, c[1][2], pel + 1, deliveries }
            budget = budget - 1
          else
            redis.call('XACK', stream, group, entry)
          end
        end
      elseif not suspect and tonumber(p[3]) >= suspect_idle then
        suspect = { stream, i - 4, entry, pel, deliveries }
      end
    end
  end
end
if suspect and #claimed == 0 then
  local c = redis.call('XCLAIM', suspect[1], group, consumer, min_idle, suspect[3])
  if c[1] and c[1][2] then
    claimed[1] = { suspect[2], suspect[3], c[1][2], suspect[4] + 1, suspect[5] }
  else
    redis.call('XACK', suspect[1], group, suspect[3])
  end
end
return { claimed, dead }
