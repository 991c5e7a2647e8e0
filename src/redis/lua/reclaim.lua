-- reclaim: takes over entries whose lease expired (their worker died or hung) so they run
-- again; an entry whose workers died more than max_recoveries times is a poison job and
-- goes to the dead-letter stream instead.
-- KEYS: dlq, job_prefix, result_prefix, waiter_prefix, streams...
-- ARGV: group, consumer, min_idle (ms), count, max_recoveries, done_channel, queue, ttl
-- Returns: {claimed: list of {level, entry, fields, token}, dead: list of job ids}
-- @include lib

local group, consumer, min_idle, budget, max_rec = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local claimed, dead = {}, {}
-- At most one entry on its last recovery (one more death makes it poison) is claimed per
-- call: claimed in a batch with a poison job, good jobs would die with it and be dead-lettered.
local last_taken = false
for i = 5, #KEYS do
  if budget <= 0 then break end
  local stream = KEYS[i]
  local pending = redis.pcall('XPENDING', stream, group, 'IDLE', min_idle, '-', '+', budget)
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
      elseif deliveries < max_rec or not last_taken then
        if deliveries == max_rec then last_taken = true end
        local c = redis.call('XCLAIM', stream, group, consumer, min_idle, entry)
        if c[1] and c[1][2] then
          claimed[#claimed + 1] = { i - 4, entry, c[1][2], pel + 1 }
          budget = budget - 1
        else
          redis.call('XACK', stream, group, entry)
        end
      end
    end
  end
end
return { claimed, dead }
