-- KEYS session, its metadata, its step-up windows, then what `need` names (its user's
-- index, the tag's directory); ARGV base, digest, expires, idle|'', now. A refresh session's access
-- token gets the new end, never past its cap, and the session lives on to the later of
-- it and its refresh token's end. Every key of the session lives as long as it does.
-- Returns {user, device, issued, end} of the renewed session, or nil.
local base, now = ARGV[1], tonumber(ARGV[5])
local rec = load_own(KEYS[1])
if not live(rec, now) or rec.d ~= ARGV[2] then return false end
local ukey = base .. 'u:' .. rec.u
need(ukey)
need(base .. 'd')
need(base .. 'dx')
local more = undeclared()
if more then return more end
local e, r = tonumber(ARGV[3]), tonumber(rec.r)
if rec.fe then
  local ae = math.min(e, tonumber(rec.fc))
  rec.ae = tostring(ae)
  e = math.max(ae, tonumber(rec.fe))
end
rec.e = tostring(e)
local fin = e
if ARGV[4] ~= '' then
  local l = math.min(tonumber(ARGV[4]), e)
  rec.l = tostring(l)
  fin = l
else
  rec.l = nil
end
save(KEYS[1], rec, fin + r - now)
ttl_at_least(KEYS[2], fin + r - now)
-- The windows' key lives to the session's end (`elevate.lua`): it still says when the
-- session was last elevated.
ttl_at_least(KEYS[3], e - now)
ttl_at_least(ukey, e + r - now)
-- The directory outlives every session in it: a renewed one stays listed.
dir_ttl(base, e + r - now)
return {rec.u, rec.v, rec.i, rec.e}
