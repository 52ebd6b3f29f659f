-- Apply one replica's delta of one feature and one time bucket (atomic; all keys share a slot).
-- KEYS[1] state token, KEYS[2] bucket hash, KEYS[3] HyperLogLog
-- ARGV[1] expected token, ARGV[2] bucket TTL (s), ARGV[3] state TTL (s), ARGV[4] category cap,
-- ARGV[5..9] number of: integer pairs, float pairs, min pairs, max pairs, category pairs;
-- ARGV[10] numeric bucket counts packed as "key:count,key:count" (4x fewer bytes than field pairs);
-- then the field/value pairs in that order, then the values to PFADD.
-- Returns 1, or the current token when it differs from ARGV[1] (nothing is written then).
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])  -- first writer decides the scale
elseif cur ~= ARGV[1] then
  return cur
else
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
local h = KEYS[2]
for key, n in string.gmatch(ARGV[10], '(-?%d+):(%d+)') do
  redis.call('HINCRBY', h, 'k:' .. key, n)
end
local i = 11
for _ = 1, tonumber(ARGV[5]) do
  redis.call('HINCRBY', h, ARGV[i], ARGV[i + 1]); i = i + 2
end
for _ = 1, tonumber(ARGV[6]) do
  redis.call('HINCRBYFLOAT', h, ARGV[i], ARGV[i + 1]); i = i + 2
end
for _ = 1, tonumber(ARGV[7]) do
  local v = redis.call('HGET', h, ARGV[i])
  if (not v) or tonumber(ARGV[i + 1]) < tonumber(v) then redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
for _ = 1, tonumber(ARGV[8]) do
  local v = redis.call('HGET', h, ARGV[i])
  if (not v) or tonumber(ARGV[i + 1]) > tonumber(v) then redis.call('HSET', h, ARGV[i], ARGV[i + 1]) end
  i = i + 2
end
-- Categories: a bounded number of fields per bucket, the rest is counted in 'o' (other).
local cap = tonumber(ARGV[4])
for _ = 1, tonumber(ARGV[9]) do
  if redis.call('HEXISTS', h, ARGV[i]) == 1 then
    redis.call('HINCRBY', h, ARGV[i], ARGV[i + 1])
  elseif tonumber(redis.call('HGET', h, '#c') or '0') < cap then
    redis.call('HINCRBY', h, ARGV[i], ARGV[i + 1]); redis.call('HINCRBY', h, '#c', 1)
  else
    redis.call('HINCRBY', h, 'o', ARGV[i + 1])
  end
  i = i + 2
end
redis.call('EXPIRE', h, ARGV[2])
if i <= #ARGV then
  while i <= #ARGV do  -- chunks: unpack() has a stack limit
    local j = math.min(i + 499, #ARGV)
    redis.call('PFADD', KEYS[3], unpack(ARGV, i, j)); i = j + 1
  end
  redis.call('EXPIRE', KEYS[3], ARGV[2])
end
return 1
