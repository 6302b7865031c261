-- KEYS ban key, user index, its sessions; ARGV base, user, until, now,
-- note|''. Ends every live session ('b') and sets the ban. Returns the ended infos.
local base, now, nowstr = ARGV[1], tonumber(ARGV[4]), ARGV[4]
local note = opt(ARGV[5])
local ukey = KEYS[2]
local ids = live_ids(ukey)
for _, id in ipairs(ids) do need(base .. 's:' .. id) end
need(base .. 'd')
need(base .. 'dx')
bury_need(base, ARGV[2], now, ids)
local more = undeclared()
if more then return more end
local out = {}
for _, id in ipairs(ids) do
  local rec = load(base .. 's:' .. id)
  -- Ended whatever this clock says; reported only if live by this one.
  if not over(rec) then end_one(base, id, rec, 'b', now, nowstr, live(rec, now) and out or {}, note) end
  redis.call('ZREM', ukey, id)
end
-- Kept past its end, as a revocation is (readers compare it with their own clocks):
-- a writer whose clock is ahead would otherwise lift it early for every instance.
local ttl = tonumber(ARGV[3]) + @PRUNE_GRACE_MS@ - now
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
bury(base, now)
announce('b', note)
return out
