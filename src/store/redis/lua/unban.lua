-- KEYS[1] ban key; ARGV now. Returns 1 if a ban stood.
local b = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if b and tonumber(b) > tonumber(ARGV[1]) then return 1 end
return 0
