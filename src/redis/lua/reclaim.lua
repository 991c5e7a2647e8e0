-- reclaim: takes over entries whose lease expired (their worker died or hung) so they run
-- again; an entry whose workers died more than max_recoveries times is a poison job and
-- goes to the dead-letter stream instead; one whose abort was asked for ends aborted.
-- The caller's own idle entries are not taken but listed: the caller may still be running
-- them (its event loop was blocked past the idle timeout) and only it knows; it names those it
-- does not hold (orphans: a fetch whose reply was lost, a former process with the same id) in
-- a second call, which claims them like any other.
-- KEYS: dlq, job_prefix, result_prefix, waiters, aborting, wf_notes, watch, streams...
-- ARGV: group, consumer, min_idle (ms), count, max_recoveries, done_channel, queue, ttl,
--       suspect_at (deaths from which a job is suspect), suspect_idle (ms; min idle to claim
--       one), since (server ms the caller's process started), then orphans: pairs of level and
--       entry of the caller's own entries to claim
-- Returns: {claimed: list of {level, entry, fields, token, deaths}, dead: list of job ids,
--   own: flat list of level, entry, idle ms of the caller's entries idle for half the idle
--   timeout or more, not claimed}
-- @include lib
-- @include jobs

local NSTREAM = 8
wf_notes = KEYS[6]
wf_placed = true
wf_watched = KEYS[7]
if redis.call('EXISTS', wf_watched) == 0 then wf_watched = nil end -- one check per call, none per job
local group, consumer, min_idle, budget, max_rec = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local claimed, dead, own = {}, {}, {}
local orphans = {}
for i = 12, #ARGV, 2 do orphans[ARGV[i] .. ':' .. ARGV[i + 1]] = true end
-- An orphan delivered to the caller after its process started was never received by it (the
-- reply of a fetch, a blocking read or a reclaim was lost): no worker died with it, so it is
-- claimed without counting a delivery. One delivered before is a former process's: a death.
local since, now = tonumber(ARGV[11]) or 0, now_ms()
-- A suspect (it died with a worker before: deaths >= suspect_at) runs alone on its worker, so
-- its next death is its own: one per call, only in a call that claims nothing else, and only
-- once it has been idle suspect_idle (a busy worker leaves it to an idle one for a while).
local suspect_at, suspect_idle = tonumber(ARGV[9]) or (max_rec + 1), tonumber(ARGV[10]) or 0
local suspect

-- Claims an entry whose fields are f; one gone from the stream leaves a trace in the DLQ.
local function claim(stream, level, entry, f, pel, deliveries, lost_here, idle_at_least)
  if not f or not f.h then
    -- An entry without a header leaves its stream too (it was delivered: nothing reads it again).
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    dead_trace(KEYS[1], entry, level, ARGV[7], consumer, nil)
    return false
  end
  local fields
  if lost_here then
    if #redis.call('XCLAIM', stream, group, consumer, idle_at_least, entry, 'JUSTID') == 0 then return false end
    fields = { 'h', f.h, 'd', f.d or '' }
    if f.r then fields[5], fields[6] = 'r', f.r end
  else
    local c = redis.call('XCLAIM', stream, group, consumer, idle_at_least, entry)
    if not (c[1] and c[1][2]) then return false end
    fields = c[1][2]
  end
  local id = header_id(f.h)
  if id == '' then id = entry end
  if redis.call('SREM', KEYS[5], id) == 1 then
    -- Its abort was asked for while its worker was gone: it ends here.
    redis.call('XACK', stream, group, entry)
    redis.call('XDEL', stream, entry)
    redis.call('DEL', KEYS[2] .. id)
    store_result(KEYS[3], KEYS[4], ARGV[6], id, aborted_record('aborted while its worker was gone', f.h, f.d, stream), ARGV[8])
    return true
  end
  claimed[#claimed + 1] = { level, entry, fields, lost_here and pel or pel + 1, deliveries }
  return true
end

-- The caller's own entries are looked at from half the idle timeout: its orphans are its to
-- claim (without a death) before another worker takes them for a dead worker's (with one).
local own_idle = math.floor(tonumber(min_idle) / 2)
for i = NSTREAM, #KEYS do
  local stream, level = KEYS[i], i - NSTREAM + 1
  local pending = redis.pcall('XPENDING', stream, group, 'IDLE', own_idle, '-', '+', budget + 20 + #ARGV - 11)
  if type(pending) == 'table' and not pending.err then
    for _, p in ipairs(pending) do
      local entry, pel, idle = p[1], tonumber(p[4]), tonumber(p[3])
      local mine = p[2] == consumer
      local orphan = mine and orphans[level .. ':' .. entry]
      if mine and not orphan then
        own[#own + 1] = level
        own[#own + 1] = entry
        own[#own + 1] = idle
      elseif orphan or idle >= tonumber(min_idle) then
        -- Deliveries before a janitor's hand-back (field r) count too; a lost delivery to the
        -- caller does not.
        local f = entry_fields(stream, entry)
        local lost_here = orphan and now - idle >= since
        local deliveries = pel + (f and tonumber(f.r) or 0) - (lost_here and 1 or 0)
        if deliveries > max_rec then
          redis.call('XACK', stream, group, entry)
          redis.call('XDEL', stream, entry)
          if f and f.h then
            local id = header_id(f.h)
            if id == '' then id = entry end
            local err = 'worker died while running the job ' .. deliveries .. ' times'
            redis.call('XADD', KEYS[1], '*', 'h', header_with(f.h, id, nil), 'd', f.d or '', 'level', level,
              'reason', 'poison', 'error', 'PoisonJobError: ' .. err, 'stack', '', 'attempts', deliveries,
              'queue', ARGV[7], 'worker', p[2], 'failed_at', now_ms())
            redis.call('DEL', KEYS[2] .. id)
            redis.call('SREM', KEYS[5], id)
            local record = with_job('failed|' .. cjson.encode({ name = 'PoisonJobError', message = err, attempts = deliveries, reason = 'poison', finishedAt = now_ms() }) .. '\n', f.h, f.d, stream)
            store_result(KEYS[3], KEYS[4], ARGV[6], id, record, ARGV[8])
            dead[#dead + 1] = id
          else
            dead_trace(KEYS[1], entry, level, ARGV[7], p[2], nil)
          end
        elseif orphan then
          -- Already this worker's in Redis: claimed whatever room it has (a suspect among them
          -- is isolated when it arrives).
          claim(stream, level, entry, f, pel, deliveries, lost_here, own_idle)
        elseif deliveries < suspect_at then
          -- Past the budget (0 for a full worker) only poison and suspects are looked at.
          if budget > 0 and claim(stream, level, entry, f, pel, deliveries, false, min_idle) then budget = budget - 1 end
        elseif not suspect and idle >= suspect_idle then
          suspect = { stream, level, entry, f, pel, deliveries }
        end
      end
    end
  end
end
if suspect and #claimed == 0 then claim(suspect[1], suspect[2], suspect[3], suspect[4], suspect[5], suspect[6], false, min_idle) end
-- How many workflow nodes' endings wait to be settled in their workflows (src/worker/recover.ts).
return { claimed, dead, own, redis.call('HLEN', wf_notes) }
