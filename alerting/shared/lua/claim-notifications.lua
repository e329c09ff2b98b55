--! keys=3
-- Claims notification keys before they are sent, fenced by the engine lease: a key claimed by
-- another token (an engine before a takeover) is not sent again — not even as a resend of what
-- the outbox holds without a logged outcome, since the delivery log lags the delivery — unless
-- the key is marked for take-over (its sender's last logged attempt was failing and retrying).
-- Claims live in one hash per day, kept three days.
-- KEYS: lease, today's claims, yesterday's claims
-- ARGV: token, ttl seconds, then per key: the key, take over (0|1)
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  -- Missing: Redis lost its data and the holder has not set the lease again yet (transient).
  if not holder then return redis.error_reply('NOLEASE the engine lease is not set') end
  return redis.error_reply('FENCED this engine does not hold the lease')
end
local out = {}
for i = 3, #ARGV, 2 do
  local key = ARGV[i]
  local holder = redis.call('HGET', KEYS[2], key) or redis.call('HGET', KEYS[3], key)
  if (not holder) or holder == ARGV[1] or ARGV[i + 1] == '1' then
    redis.call('HSET', KEYS[2], key, ARGV[1])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return out
