-- name: requeue
-- version: 1
-- keys: 1=inprogress:<q>:<identity> (LIST) 2=queue:<q> (LIST)
-- argv: none
-- guarantee: atomically moves every payload of the in-progress list, byte for byte, back to the pop end (right) of the queue in original fetch order (the oldest fetched is popped first), leaving the in-progress list empty; returns the number moved
local n = 0
while redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') do
  n = n + 1
end
return n
