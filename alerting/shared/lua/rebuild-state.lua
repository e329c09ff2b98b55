--! keys=4
-- After Redis lost the shared alert state (flushed, restarted empty), the active engine writes it
-- again from its own state, which it rebuilt from the alert log: the open alerts, their seqs and
-- the cursor. The feed is not rewritten; console nodes fill gaps in it from the alert log.
-- KEYS: lease, open, seqs, cursor
-- ARGV: token, cursor, then per open alert: id, seq, alert JSON
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  -- Missing: Redis lost its data and the holder has not set the lease again yet (transient).
  if not holder then return redis.error_reply('NOLEASE the engine lease is not set') end
  return redis.error_reply('FENCED this engine does not hold the lease')
end
redis.call('DEL', KEYS[2], KEYS[3])
local n = 0
for i = 3, #ARGV, 3 do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
  n = n + 1
end
local top = tonumber(redis.call('GET', KEYS[4]) or '0')
redis.call('SET', KEYS[4], math.max(top, tonumber(ARGV[2])))
return n
