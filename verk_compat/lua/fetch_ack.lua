#!lua flags=allow-oom
-- name: fetch_ack
-- version: 3
-- keys: 1=queue:<q> (LIST) 2=inprogress:<q>:<identity> (LIST)
-- argv: 1=max number of jobs to move (integer >= 0) 2..n=raw payloads of finished jobs to acknowledge, exact bytes
-- guarantee: one atomic step: first LREM <inprogress> -1 <raw> for each acknowledged payload (one occurrence each, as ack.lua), then moves up to ARGV[1] payloads, byte for byte, from the pop end (right) of the queue to the left of the in-progress list with LMOVE, so a job is always in exactly one list; returns the moved payloads oldest first (empty table when the queue is empty); flags=allow-oom: it runs while Redis is at maxmemory (noeviction), since it only moves payloads between lists (and removes acknowledged ones), and draining the queue is what frees memory
for i = 2, #ARGV do
  redis.call('LREM', KEYS[2], -1, ARGV[i])
end
local moved = {}
local limit = tonumber(ARGV[1])
for i = 1, limit do
  local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not job then break end
  moved[i] = job
end
return moved
