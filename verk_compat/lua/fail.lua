-- name: fail
-- version: 1
-- keys: 1=inprogress:<q>:<identity> (LIST) 2=retry or dead (ZSET)
-- argv: 1=raw payload as fetched 2=mode: retry | dead | drop 3=score (float seconds) 4=new member (ignored for drop) 5=dead cutoff score (now - 180 days) 6=dead max jobs (10000)
-- guarantee: one atomic transition: LREM the exact raw bytes from the in-progress list and, only if they were there, ZADD the new member to retry, or to dead trimmed like Sidekiq (ZREMRANGEBYSCORE -inf cutoff; ZREMRANGEBYRANK 0 -max); returns 1 if the job was moved, 0 if it was no longer in progress (requeued elsewhere), so a job is never doubled
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
local mode = ARGV[2]
if mode == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
elseif mode == 'dead' then
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[5])
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -tonumber(ARGV[6]))
end
return 1
