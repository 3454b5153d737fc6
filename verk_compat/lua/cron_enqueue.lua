-- name: cron_enqueue
-- version: 1
-- keys: 1=cron_job:<name> (HASH) 2=cron_job:<name>:enqueued (ZSET) 3=queue:<q> (LIST) 4=queues (SET) 5=cron_job:<name>:jid_history (LIST)
-- argv: 1=tick score (epoch seconds) 2=tick member (ISO 8601 UTC) 3=payload 4=queue name 5=last_enqueue_time text 6=jid history item 7=last history index kept 8=forget ticks scored below this
-- guarantee: claims the tick as sidekiq-cron does (ZADD of the tick member) and only if this call added it (and the entry still exists and is not disabled) pushes the payload, records last_enqueue_time and the jid history and forgets ticks older than a day, all at once; any number of Ruby and Python pollers therefore enqueue a tick once; returns 1 if this call enqueued, else 0
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[1], 'status')
if status and status ~= 'enabled' then return 0 end
if redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('SADD', KEYS[4], ARGV[4])
redis.call('HSET', KEYS[1], 'last_enqueue_time', ARGV[5])
redis.call('LPUSH', KEYS[5], ARGV[6])
redis.call('LTRIM', KEYS[5], 0, ARGV[7])
redis.call('ZREMRANGEBYSCORE', KEYS[2], 0, '(' .. ARGV[8])
return 1
