-- name: migrate_finish
-- version: 1
-- keys: 1=source (LIST, ZSET, SET or STRING counter) 2=verk:migrate:progress:<source> (HASH)
-- argv: 1=source kind LEFT|RIGHT|ZSET|SET|COUNTER 2=sequence number of the pending move
-- guarantee: cross-server step 3 (source server), after the target applied the step: if that sequence number is pending, removes the recorded element (field raw) from the source, checking it is still there (LINDEX at that end, ZSCORE, SISMEMBER, GET), and clears pending, in one script; returns 1 when removed, 0 when the source no longer held it (pending cleared: a conflict to report), -1 when that step is not pending
if redis.call('HGET', KEYS[2], 'pending') ~= ARGV[2] then return -1 end
local sk = ARGV[1]
local raw = redis.call('HGET', KEYS[2], 'raw')
local removed = 0
if sk == 'LEFT' then
  if redis.call('LINDEX', KEYS[1], 0) == raw then redis.call('LPOP', KEYS[1]); removed = 1 end
elseif sk == 'RIGHT' then
  if redis.call('LINDEX', KEYS[1], -1) == raw then redis.call('RPOP', KEYS[1]); removed = 1 end
elseif sk == 'ZSET' then
  removed = redis.call('ZREM', KEYS[1], raw)
elseif sk == 'SET' then
  removed = redis.call('SREM', KEYS[1], raw)
elseif sk == 'COUNTER' then
  if redis.call('GET', KEYS[1]) == raw then redis.call('DEL', KEYS[1]); removed = 1 end
else
  return redis.error_reply('migrate_finish: unknown source kind ' .. tostring(sk))
end
redis.call('HDEL', KEYS[2], 'pending', 'raw', 'score')
return removed
