#!lua flags=allow-oom
-- name: requeue
-- version: 3
-- keys: 1=inprogress:<q>:<identity> (LIST) 2=queue:<q> (LIST) 3=optional <identity> process hash (orphan recovery)
-- argv: none
-- guarantee: atomically moves every payload of the in-progress list, byte for byte, back to the pop end (right) of the queue in original fetch order (the oldest fetched is popped first), leaving the in-progress list empty; with KEYS[3], moves nothing if that process hash exists (its owner is alive: checked in the same step, so a beat arriving after the caller's check is honoured); returns the number moved; flags=allow-oom: it runs while Redis is at maxmemory (noeviction), since it only moves payloads between lists (and removes acknowledged ones), and draining the queue is what frees memory
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do
  n = n + 1
end
return n
