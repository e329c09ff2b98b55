--! keys=3
-- A console node's starting point, read atomically: the cursor, the id of the feed's last
-- entry (follow from there) and every open alert. A missing cursor means the state is not
-- there (Redis lost it and the engine has not rebuilt it yet): the node reads the alert log.
-- KEYS: open, cursor, feed
local cursor = redis.call('GET', KEYS[2])
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local lastId = '0-0'
if last[1] then lastId = last[1][1] end
return { cursor or '', lastId, redis.call('HGETALL', KEYS[1]) }
