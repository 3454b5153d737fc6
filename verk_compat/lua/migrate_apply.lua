-- name: migrate_apply
-- version: 1
-- keys: 1=target (LIST, ZSET, SET or STRING counter) 2=verk:migrate:applied (HASH)
-- argv: 1=target kind LEFT|RIGHT|ZSET|SET|COUNTER 2=payload, exact bytes 3=score (ZSET) or TTL ms to keep (COUNTER, <= 0 for none) 4=field <run>|<source key> 5=sequence number
-- guarantee: cross-server step 2 (target server): writes the payload only if the applied hash's field is below the sequence number, and records the number in the same script, so applying one step twice writes once; returns 1 when written, 0 when already applied
local seq = tonumber(ARGV[5])
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[4]) or '0')
if seq == nil then return redis.error_reply('migrate_apply: bad sequence number') end
if done >= seq then return 0 end
local tk, payload, extra = ARGV[1], ARGV[2], ARGV[3]
if tk == 'LEFT' then
  redis.call('LPUSH', KEYS[1], payload)
elseif tk == 'RIGHT' then
  redis.call('RPUSH', KEYS[1], payload)
elseif tk == 'ZSET' then
  redis.call('ZADD', KEYS[1], extra, payload)
elseif tk == 'SET' then
  redis.call('SADD', KEYS[1], payload)
elseif tk == 'COUNTER' then
  redis.call('INCRBY', KEYS[1], payload)
  local ttl = tonumber(extra) or -1
  if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
else
  return redis.error_reply('migrate_apply: unknown target kind ' .. tostring(tk))
end
redis.call('HSET', KEYS[2], ARGV[4], seq)
return 1
