--! keys=2
-- After Redis lost its data: the keys the outbox holds (notifications already decided) are
-- claimed again, so nothing decided before the loss can be sent a second time.
-- KEYS: lease, today's claims
-- ARGV: token, ttl seconds, then the notification keys (claimed in the token's name: this
-- engine's own notifications between outbox and claim stay its to send)
local holder = redis.call('GET', KEYS[1])
if holder ~= ARGV[1] then
  -- Missing: Redis lost its data and the holder has not set the lease again yet (transient).
  if not holder then return redis.error_reply('NOLEASE the engine lease is not set') end
  return redis.error_reply('FENCED this engine does not hold the lease')
end
local n = 0
for i = 3, #ARGV do
  n = n + redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[1])
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return n
