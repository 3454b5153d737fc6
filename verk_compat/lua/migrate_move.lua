-- name: migrate_move
-- version: 1
-- keys: 1=source (LIST, ZSET, SET or STRING counter) 2=target (LIST, ZSET, SET or STRING counter; the source key itself for an in-place LSET)
-- argv: 1=source kind LEFT|RIGHT (list end) ZSET SET COUNTER or LPOS (search from the oldest end) 2=expected source element, exact bytes 3=target kind LEFT|RIGHT (push end) ZSET SET COUNTER or LSET (with LPOS: replace in place) 4=payload to write, exact bytes 5=score for a ZSET target
-- guarantee: one migration step on one server: only if the source still holds the expected element (LINDEX at that end, ZSCORE, SISMEMBER, GET, or LPOS) is it removed and the payload written to the target, in the same script, so a job is never in both or in neither; arguments are checked before anything is written; a COUNTER keeps its remaining TTL; returns 1 when moved, 0 when the source no longer held the element
local sk, expected, tk, payload, score = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local sources = {LEFT = true, RIGHT = true, ZSET = true, SET = true, COUNTER = true, LPOS = true}
local targets = {LEFT = true, RIGHT = true, ZSET = true, SET = true, COUNTER = true, LSET = true}
if not sources[sk] or not targets[tk] then
  return redis.error_reply('migrate_move: unknown kind ' .. tostring(sk) .. '/' .. tostring(tk))
end
if tk == 'LSET' and (sk ~= 'LPOS' or KEYS[1] ~= KEYS[2]) then
  return redis.error_reply('migrate_move: LSET needs LPOS on the same key')
end
if tk == 'ZSET' and not tonumber(score) and score ~= 'inf' and score ~= '+inf' and score ~= '-inf' then
  return redis.error_reply('migrate_move: bad score')
end
if tk == 'COUNTER' and not string.match(payload, '^%-?%d+$') then
  return redis.error_reply('migrate_move: counter payload must be an integer')
end
local ttl = -1
if sk == 'LEFT' then
  if redis.call('LINDEX', KEYS[1], 0) ~= expected then return 0 end
  redis.call('LPOP', KEYS[1])
elseif sk == 'RIGHT' then
  if redis.call('LINDEX', KEYS[1], -1) ~= expected then return 0 end
  redis.call('RPOP', KEYS[1])
elseif sk == 'ZSET' then
  if not redis.call('ZSCORE', KEYS[1], expected) then return 0 end
  redis.call('ZREM', KEYS[1], expected)
elseif sk == 'SET' then
  if redis.call('SISMEMBER', KEYS[1], expected) == 0 then return 0 end
  redis.call('SREM', KEYS[1], expected)
elseif sk == 'COUNTER' then
  if redis.call('GET', KEYS[1]) ~= expected then return 0 end
  ttl = redis.call('PTTL', KEYS[1])
  redis.call('DEL', KEYS[1])
else
  local pos = redis.call('LPOS', KEYS[1], expected, 'RANK', -1)
  if not pos then return 0 end
  if tk == 'LSET' then
    redis.call('LSET', KEYS[1], pos, payload)
    return 1
  end
  redis.call('LREM', KEYS[1], -1, expected)
end
if tk == 'LEFT' then
  redis.call('LPUSH', KEYS[2], payload)
elseif tk == 'RIGHT' then
  redis.call('RPUSH', KEYS[2], payload)
elseif tk == 'ZSET' then
  redis.call('ZADD', KEYS[2], score, payload)
elseif tk == 'SET' then
  redis.call('SADD', KEYS[2], payload)
else
  redis.call('INCRBY', KEYS[2], payload)
  if ttl > 0 and redis.call('PTTL', KEYS[2]) == -1 then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return 1
