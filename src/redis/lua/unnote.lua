-- unnote: drops workflow notes once settled, each only if it is still the note that was read:
-- one written again meanwhile (a watched job replayed and ended again) stays for the next round.
-- KEYS: wf_notes
-- ARGV: then pairs of id and the note as it was read
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then n = n + redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return n
