-- KEYS[1] ban key; ARGV base, user, until, now. Ends every live session ('b') and
-- sets the ban. Returns the ended infos.
local base, now, nowstr = ARGV[1], tonumber(ARGV[4]), ARGV[4]
local ukey = base .. 'u:' .. ARGV[2]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
  local rec = load(base .. 's:' .. id)
  -- Ended whatever this clock says; reported only if live by this one.
  if not over(rec) then end_one(base, id, rec, 'b', now, nowstr, live(rec, now) and out or {}) end
  redis.call('ZREM', ukey, id)
end
local ttl = tonumber(ARGV[3]) - now
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
announce('b')
return out
