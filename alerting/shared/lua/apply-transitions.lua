--! keys=5
-- The active alert engine applies a batch of logged transitions to the shared alert state, all
-- or nothing, fenced: only the holder of the engine lease may write (a deposed engine that has
-- not noticed yet is refused). Each alert's snapshot moves forward only (seq), the cursor only
-- rises, and every new change is appended to the feed the console nodes follow.
-- KEYS: lease, open (id -> alert JSON), seqs (id -> last seq), cursor, feed (stream)
-- ARGV: token, feed max length, then per transition: id, seq, cursor, resolved (0|1), alert JSON, change JSON
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  -- Missing: Redis lost its data and the holder has not set the lease again yet (transient).
  if not holder then return redis.error_reply('NOLEASE the engine lease is not set') end
  return redis.error_reply('FENCED this engine does not hold the lease')
end
-- No cursor: the state is not there (Redis lost it); a partial state must never be readable,
-- so nothing is applied until the engine has written the whole state again.
local current = redis.call('GET', KEYS[4])
if not current then return redis.error_reply('NOSTATE the shared alert state must be rebuilt first') end
local applied = 0
local top = tonumber(current)
for i = 3, #ARGV, 6 do
  local id, seq, cursor = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local known = tonumber(redis.call('HGET', KEYS[3], id) or '-1')
  if seq > known then
    if ARGV[i + 3] == '1' then
      redis.call('HDEL', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
    else
      redis.call('HSET', KEYS[3], id, seq)
      redis.call('HSET', KEYS[2], id, ARGV[i + 4])
    end
    applied = applied + 1
  end
  if cursor > top then
    top = cursor
    redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[2], '*', 'cursor', ARGV[i + 2], 'change', ARGV[i + 5])
  end
end
redis.call('SET', KEYS[4], top)
return applied
