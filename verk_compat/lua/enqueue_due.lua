-- name: enqueue_due
-- version: 1
-- keys: 1=schedule or retry (ZSET) 2=queue:<q> (LIST) 3=queues (SET) 4=dead (ZSET)
-- argv: 1=old member (exact bytes) 2=new payload with enqueued_at, or empty string to kill 3=queue name 4=now (float seconds, dead score)
-- guarantee: ZREM the old member; only if it was removed, LPUSH the new payload and SADD the queue name (or, with an empty new payload, ZADD the old bytes untouched to dead); racing pollers therefore never push a job twice; returns 1 if this call moved the job, else 0
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if ARGV[2] == '' then
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
  return 1
end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return 1
