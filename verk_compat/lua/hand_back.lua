#!lua flags=allow-oom
-- name: hand_back
-- version: 1
-- keys: 1=inprogress:<q>:<identity> (LIST) 2=queue:<q> (LIST)
-- argv: 1=raw payload as fetched
-- guarantee: one atomic step: LREM the exact raw bytes from the in-progress list and, only if they were there, LPUSH the same bytes (never decoded) to the push end of the queue, where clients enqueue, so another process (e.g. Ruby Sidekiq) can run the job; returns 1 if moved, 0 if the job was no longer in progress (requeued elsewhere), so a job is never doubled; flags=allow-oom: it only moves one payload between lists
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed == 0 then return 0 end
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
