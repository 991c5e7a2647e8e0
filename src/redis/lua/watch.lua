-- watch: a workflow waits on an existing job (after()): answers its outcome record when it has
-- one (it ended), and unless it completed adds the place to the job's entry in the queue's watch
-- hash, in the same step, so its ending, whenever it comes (a failed one replayed from the
-- dead-letter queue ends again), is noted for the workflow (store_result in lib).
-- KEYS: result_prefix, watch
-- ARGV: id, place (JSON [workflow, stage, node])
-- Returns: {1, record} when it ended (watched on unless it completed), {0} when watched now
local rec = redis.call('GET', KEYS[1] .. ARGV[1])
if rec and string.sub(rec, 1, 10) == 'completed|' then return {1, rec} end
local answer = rec and {1, rec} or {0}
local places = redis.call('HGET', KEYS[2], ARGV[1])
local list = places and cjson.decode(places) or {}
local text = cjson.encode(cjson.decode(ARGV[2]))
for _, p in ipairs(list) do
  if cjson.encode(p) == text then return answer end
end
list[#list + 1] = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(list))
return answer
