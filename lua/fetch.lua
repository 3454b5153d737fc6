-- name: fetch
-- version: 1
-- keys: 1=queue:<q> (LIST) 2=inprogress:<q>:<identity> (LIST)
-- argv: 1=max number of jobs to move (integer >= 1)
-- guarantee: moves up to ARGV[1] payloads, byte for byte, from the pop end (right) of the queue to the left of the in-progress list, each with one LMOVE, so a job is always in exactly one list; returns the moved payloads oldest first (empty table when the queue is empty)
local moved = {}
local limit = tonumber(ARGV[1])
for i = 1, limit do
  local job = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not job then break end
  moved[i] = job
end
return moved
