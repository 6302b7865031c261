-- KEYS session, its user's index; ARGV base, digest, expires, idle|'', now.
-- Returns {user, device, issued} of the renewed session, or nil.
local base, now = ARGV[1], tonumber(ARGV[5])
local rec = load(KEYS[1])
if not live(rec, now) or rec.d ~= ARGV[2] then return false end
local ukey = base .. 'u:' .. rec.u
need(ukey)
local more = undeclared()
if more then return more end
local e, r = tonumber(ARGV[3]), tonumber(rec.r)
rec.e = ARGV[3]
-- A refresh session's access token lives to the new end.
if rec.ae then rec.ae = ARGV[3] end
local fin = e
if ARGV[4] ~= '' then
  rec.l = ARGV[4]
  if tonumber(ARGV[4]) < e then fin = tonumber(ARGV[4]) end
else
  rec.l = nil
end
save(KEYS[1], rec, fin + r - now)
ttl_at_least(ukey, e + r - now)
return {rec.u, rec.v, rec.i}
