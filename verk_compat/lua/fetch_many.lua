#!lua flags=allow-oom
-- name: fetch_many
-- version: 2
-- keys: 1..n=queue:<q> (LIST) of each waiting queue, then n+1..2n=inprogress:<q>:<identity> (LIST) of the same queues in the same order
-- argv: none
-- guarantee: one atomic step: for each queue i, moves at most one payload, byte for byte, from the pop end (right) of KEYS[i] to the left of KEYS[n+i] with LMOVE, so a job is always in exactly one list; returns a flat table {i, payload, ...} for the queues that had a job (empty when none had one). One EXISTS per 500 queue keys comes first, so a poll of idle queues costs one command, whatever their number; flags=allow-oom: it runs while Redis is at maxmemory (noeviction), since it only moves payloads between lists, and draining the queues is what frees memory
local n = #KEYS / 2
local found = 0
-- In chunks: unpack() of thousands of arguments would overflow Lua's C stack.
for first = 1, n, 500 do
  found = found + redis.call('EXISTS', unpack(KEYS, first, math.min(first + 499, n)))
end
local out = {}
if found == 0 then
  return out
end
for i = 1, n do
  local job = redis.call('LMOVE', KEYS[i], KEYS[n + i], 'RIGHT', 'LEFT')
  if job then
    out[#out + 1] = i
    out[#out + 1] = job
  end
end
return out
