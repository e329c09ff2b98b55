--! keys=1
-- KEYS[1] the lease; ARGV[1] the holder's token. Deletes only our own lease.
-- 1: released; 0: it was no longer ours.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
