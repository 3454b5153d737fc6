-- name: delayed_tidy
-- version: 1
-- keys: 1=index: resque-scheduler's delayed_queue_schedule (ZSET) or a timestamps:<job> (SET) 2=the delayed:<ts> LIST the member names
-- argv: 1=member to remove (the <ts> of the ZSET, or the unprefixed delayed:<ts> of the SET) 2=index type: zset | set
-- guarantee: removes the member from the index only if the delayed:<ts> list no longer exists (every job of it migrated), in the same atomic step, so a job a producer pushes meanwhile keeps its index entry; returns 1 if removed, 0 otherwise
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[2] == 'zset' then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('SREM', KEYS[1], ARGV[1])
