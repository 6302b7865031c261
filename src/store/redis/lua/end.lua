-- Ends live sessions, leaving tombstones. KEYS user index, its sessions; ARGV base, 'u',
-- reason, now, device|'', user, kept sid|'', note|'' — or KEYS session, its user's
-- index; ARGV base, 's', reason, now, sid, digest|'', owner|'', note|''. Returns the
-- ended infos, flattened by five.
local base, reason, now, nowstr = ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[4]
local note = opt(ARGV[8])
local out = {}
if ARGV[2] == 's' then
  local rec = load(KEYS[1])
  if rec ~= nil then
    need(base .. 'u:' .. rec.u)
    bury_need(base, rec.u, now, {ARGV[5]})
  end
  need(base .. 'd')
  need(base .. 'dx')
  local more = undeclared()
  if more then return more end
  -- Ended whatever this clock says (a slower one may still serve it); reported only
  -- if live by this one.
  -- A token names its session by either access token: the one a refresh replaced too.
  local function named(r) return ARGV[6] == '' or r.d == ARGV[6] or r.pd == ARGV[6] end
  if not over(rec) and named(rec) and (ARGV[7] == '' or rec.u == ARGV[7]) then
    end_one(base, ARGV[5], rec, reason, now, nowstr, live(rec, now) and out or {}, note)
    redis.call('ZREM', base .. 'u:' .. rec.u, ARGV[5])
  end
  bury(base, now)
  announce(reason, note)
  return out
end
local ids = live_ids(KEYS[1])
for _, id in ipairs(ids) do need(base .. 's:' .. id) end
need(base .. 'd')
need(base .. 'dx')
bury_need(base, ARGV[6], now, ids)
local more = undeclared()
if more then return more end
for _, id in ipairs(ids) do
  local rec = load(base .. 's:' .. id)
  if over(rec) then
    redis.call('ZREM', KEYS[1], id)
  elseif (ARGV[5] == '' or rec.v == ARGV[5]) and id ~= ARGV[7] then
    end_one(base, id, rec, reason, now, nowstr, live(rec, now) and out or {}, note)
    redis.call('ZREM', KEYS[1], id)
  end
end
bury(base, now)
announce(reason, note)
return out
