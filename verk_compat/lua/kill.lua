-- name: kill
-- version: 1
-- keys: 1=retry or schedule (ZSET) 2=dead (ZSET)
-- argv: 1=member (exact bytes) 2=now (float seconds, the dead score) 3=dead cutoff score (now - 180 days) 4=dead max jobs (10000)
-- guarantee: ZREM the exact member; only if it was removed, ZADD the same bytes to dead and trim dead like Sidekiq's DeadSet#kill (ZREMRANGEBYSCORE -inf cutoff; ZREMRANGEBYRANK 0 -max); returns 1 if this call moved the job, else 0, so a job is never in both sets nor killed twice
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[4]))
return 1
