#!lua flags=allow-oom
-- name: heartbeat
-- version: 1
-- keys: 1=processes (SET) 2=<identity> process (HASH) 3=<identity>-signals (LIST) 4..n=the work hashes to write (<identity>:workers and/or <identity>:work, HASH)
-- argv: 1=identity 2=TTL seconds 3=f, the number of process hash fields 4..3+2f=field, value pairs of the process hash; the rest=field, value pairs of the work hashes (one per running job, maybe none)
-- guarantee: one atomic beat: UNLINK each work hash (frees first), SADD processes <identity>, HSET the process hash and EXPIRE it TTL, HSET the work entries (if any) into each work hash and EXPIRE it TTL, then RPOP one signal and return it (nil if none); flags=allow-oom: a process whose beat is refused looks dead, and its hash and work entries are small and bounded (one per running job), so the beat is written even while Redis is at maxmemory (noeviction)
local ttl = ARGV[2]
local f = tonumber(ARGV[3])
-- HSET in chunks: unpack() of a very long argument list would overflow the Lua stack.
local function hset(k, first, last)
  for i = first, last, 200 do
    redis.call('HSET', KEYS[k], unpack(ARGV, i, math.min(i + 199, last)))
  end
end
for k = 4, #KEYS do
  redis.call('UNLINK', KEYS[k])
end
redis.call('SADD', KEYS[1], ARGV[1])
hset(2, 4, 3 + 2 * f)
redis.call('EXPIRE', KEYS[2], ttl)
if #ARGV > 3 + 2 * f then
  for k = 4, #KEYS do
    hset(k, 4 + 2 * f, #ARGV)
    redis.call('EXPIRE', KEYS[k], ttl)
  end
end
return redis.call('RPOP', KEYS[3])
