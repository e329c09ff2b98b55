--! keys=1
-- KEYS[1] the lease; ARGV[1] the holder's token, ARGV[2] ttl in ms.
-- 1: renewed; 2: the key was gone (Redis flushed or restarted empty) and the holder set it
-- again, so a live holder keeps its lease; 0: someone else holds it.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
elseif holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 2
end
return 0
