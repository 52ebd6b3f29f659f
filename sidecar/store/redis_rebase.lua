-- Start a new window epoch for one feature: returns the old token (or false) and the new one.
-- KEYS[1] state token; ARGV[1] new payload ('' keeps the old one), ARGV[2] state TTL (s).
local cur = redis.call('GET', KEYS[1])
if (not cur) and ARGV[1] == '' then return {false, false} end
local epoch, payload = 0, ARGV[1]
if cur then
  local e, rest = string.match(cur, '^e(%d+)|(.*)$')
  if e then
    epoch = tonumber(e) + 1
    if payload == '' then payload = rest end
  end
end
local new = 'e' .. epoch .. '|' .. payload
redis.call('SET', KEYS[1], new, 'EX', ARGV[2])
return {cur or false, new}
