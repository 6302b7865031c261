-- Ends live sessions, leaving tombstones. KEYS[1] user index; ARGV base, 'u', reason,
-- now, device|'' — or KEYS[1] session; ARGV base, 's', reason, now, sid, digest|''.
-- Returns the ended infos, flattened by five.
local base, reason, now, nowstr = ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[4]
local out = {}
if ARGV[2] == 's' then
  local rec = load(KEYS[1])
  -- Ended whatever this clock says (a slower one may still serve it); reported only
  -- if live by this one.
  if not over(rec) and (ARGV[6] == '' or rec.d == ARGV[6]) then
    end_one(base, ARGV[5], rec, reason, now, nowstr, live(rec, now) and out or {})
    redis.call('ZREM', base .. 'u:' .. rec.u, ARGV[5])
  end
  announce(reason)
  return out
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = load(base .. 's:' .. id)
  if over(rec) then
    redis.call('ZREM', KEYS[1], id)
  elseif ARGV[5] == '' or rec.v == ARGV[5] then
    end_one(base, id, rec, reason, now, nowstr, live(rec, now) and out or {})
    redis.call('ZREM', KEYS[1], id)
  end
end
announce(reason)
return out
