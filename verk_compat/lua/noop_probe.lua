-- name: noop_probe
-- version: 1
-- keys: none
-- argv: 1=any value
-- guarantee: returns ARGV[1] unchanged; lets the registry tests prove EVALSHA/NOSCRIPT handling
return ARGV[1]
