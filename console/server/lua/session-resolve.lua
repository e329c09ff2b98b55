--! keys=1
-- Resolve a console session atomically (see console/server/redis-sessions.ts).
-- KEYS[1]: the session hash (fields user, createdAt, expiresAt, lastSeen; epoch ms as strings).
-- ARGV[1]: now (epoch ms, the caller's clock); ARGV[2]: idleMs.
-- Returns false (nil) when there is no such session; otherwise
--   { state, user, createdAt, expiresAt, lastSeen }
-- where state is 'live' (lastSeen is then now: the session was touched and its key's expiry moved
-- to min(expiresAt, now + idleMs)) or 'ended' (past its absolute TTL or idle for idleMs: the key
-- was deleted here, so exactly one caller across all nodes sees 'ended' for a session).
local key = KEYS[1]
local now = tonumber(ARGV[1])
local idle = tonumber(ARGV[2])
if redis.call('EXISTS', key) == 0 then
  return false
end
local f = redis.call('HMGET', key, 'user', 'createdAt', 'expiresAt', 'lastSeen')
local user, createdAt, expiresAt, lastSeen = f[1], f[2], f[3], f[4]
if not user or not tonumber(createdAt) or not tonumber(expiresAt) or not tonumber(lastSeen) then
  -- Not a session this code wrote: unusable, so it goes (and nobody is told).
  redis.call('DEL', key)
  return false
end
if now >= tonumber(expiresAt) or now - tonumber(lastSeen) >= idle then
  redis.call('DEL', key)
  return { 'ended', user, createdAt, expiresAt, lastSeen }
end
local touched = ARGV[1]
redis.call('HSET', key, 'lastSeen', touched)
redis.call('PEXPIREAT', key, string.format('%.0f', math.min(tonumber(expiresAt), now + idle)))
return { 'live', user, createdAt, expiresAt, touched }
