-- name: stats
-- version: 1
-- keys: 1=stat:processed (STRING) 2=stat:processed:<YYYY-MM-DD> (STRING) 3=stat:failed (STRING) 4=stat:failed:<YYYY-MM-DD> (STRING)
-- argv: 1=processed count (integer >= 0) 2=failed count (integer >= 0) 3=TTL of the daily counters (seconds)
-- guarantee: all or nothing: INCRBY the total and the daily counter of each non-zero count and EXPIRE the daily one TTL. No shebang on purpose: on a Redis at maxmemory (noeviction) the first INCRBY is refused before anything is written, so the counters never move apart and a refused flush can be retried without counting twice (a pipeline of separate INCRBYs could be refused half-way); returns 1
local ttl = ARGV[3]
for i, count in ipairs({tonumber(ARGV[1]), tonumber(ARGV[2])}) do
  if count > 0 then
    redis.call('INCRBY', KEYS[2 * i - 1], count)
    redis.call('INCRBY', KEYS[2 * i], count)
    redis.call('EXPIRE', KEYS[2 * i], ttl)
  end
end
return 1
