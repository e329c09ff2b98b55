--! keys=1
-- KEYS[1] the lease; ARGV[1] the new holder's token, ARGV[2] ttl in ms.
-- 1: acquired; 0: someone holds it.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
