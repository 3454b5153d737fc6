-- name: migrate_mark
-- version: 1
-- keys: 1=source (LIST, ZSET, SET or STRING counter) 2=verk:migrate:progress:<source> (HASH)
-- argv: 1=source kind LEFT|RIGHT|ZSET|SET|COUNTER 2=expected source element, exact bytes 3=score (ZSET) or remaining TTL ms (COUNTER), recorded as given
-- guarantee: cross-server step 1 (source server): if no move is pending and the source still holds the expected element, records it as pending under the next sequence number (fields seq, pending, raw, score) without touching the source; returns the sequence number, 0 when the source no longer holds the element, -1 when a move is already pending
if redis.call('HEXISTS', KEYS[2], 'pending') == 1 then return -1 end
local sk, expected = ARGV[1], ARGV[2]
local held
if sk == 'LEFT' then
  held = redis.call('LINDEX', KEYS[1], 0) == expected
elseif sk == 'RIGHT' then
  held = redis.call('LINDEX', KEYS[1], -1) == expected
elseif sk == 'ZSET' then
  held = redis.call('ZSCORE', KEYS[1], expected) ~= false
elseif sk == 'SET' then
  held = redis.call('SISMEMBER', KEYS[1], expected) == 1
elseif sk == 'COUNTER' then
  held = redis.call('GET', KEYS[1]) == expected
else
  return redis.error_reply('migrate_mark: unknown source kind ' .. tostring(sk))
end
if not held then return 0 end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('HSET', KEYS[2], 'pending', seq, 'raw', expected, 'score', ARGV[3])
return seq
