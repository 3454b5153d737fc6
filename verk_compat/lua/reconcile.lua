-- name: reconcile
-- version: 1
-- keys: 1=inprogress:<q>:<identity> (LIST) 2=queue:<q> (LIST)
-- argv: 1..n=raw payloads the live process still holds (fetched and not started, running, or finished and not yet acknowledged), exact bytes, one argument per held copy
-- guarantee: one atomic step: every copy in the in-progress list beyond the copies held (counted per exact byte string, so identical payloads are matched one for one) is removed (LREM <inprogress> -1 <raw>) and RPUSHed back to the pop end of the queue so that the oldest fetched is popped first, as requeue.lua does; held payloads are never touched; returns the number moved
local held = {}
for i = 1, #ARGV do
  held[ARGV[i]] = (held[ARGV[i]] or 0) + 1
end
local jobs = redis.call('LRANGE', KEYS[1], 0, -1)
local stray = {}
-- The oldest fetched is at the right end (fetch pushes LEFT); walk oldest first.
for i = #jobs, 1, -1 do
  local job = jobs[i]
  local n = held[job]
  if n and n > 0 then
    held[job] = n - 1
  else
    stray[#stray + 1] = job
  end
end
-- Push the newest first, so the oldest ends at the pop end (right) and runs first.
for i = #stray, 1, -1 do
  redis.call('LREM', KEYS[1], -1, stray[i])
  redis.call('RPUSH', KEYS[2], stray[i])
end
return #stray
