-- name: ack
-- version: 1
-- keys: 1=inprogress:<q>:<identity> (LIST)
-- argv: 1..n=raw payloads of finished jobs, exact bytes
-- guarantee: LREM <key> -1 <raw> for each payload (one occurrence each, searched from the oldest end), so a batch of acknowledgements costs one command; returns how many were removed
local removed = 0
for i = 1, #ARGV do
  removed = removed + redis.call('LREM', KEYS[1], -1, ARGV[i])
end
return removed
