-- Spends a refresh token. KEYS the session, its metadata, its step-up windows, then what
-- `need` names (the user's index and ban); ARGV base, sid, presented
-- digest, new access digest, new refresh digest, now, idle deadline|'', presented chain
-- digest, the session's change message, channel. A token of the session's chain (`fk`)
-- that is not its current one (`f`) was spent, however long ago (`Presented::of`). A
-- rotation is announced: the token before the one it replaces no longer opens the
-- session, and other instances' caches must read it again. Returns {'ok', user, device,
-- issued, end, access end, refresh end} | {'unknown'} | {'expired'} | {'ended', reason,
-- at, note|'', ban end|''} | {'reused', ended infos...}.
local base, sid, now, nowstr = ARGV[1], ARGV[2], tonumber(ARGV[6]), ARGV[6]
local rec = load_own(KEYS[1])
if rec == nil or rec.f == nil then return {'unknown'} end
-- Past its purge time by this clock a record is gone, whatever its key's TTL says.
local fin = tonumber(rec.e)
if rec.x == nil and rec.l and tonumber(rec.l) < fin then fin = tonumber(rec.l) end
if fin + tonumber(rec.r) <= now then return {'unknown'} end
local ukey, bkey = base .. 'u:' .. rec.u, base .. 'b:' .. rec.u
need(ukey)
need(bkey)
bury_need(base, rec.u, now, {sid})
need(base .. 'd')
need(base .. 'dx')
local more = undeclared()
if more then return more end
local function ended()
  -- Idle by then, it was over first (`Ended::after_idle`).
  if rec.l and tonumber(rec.l) <= tonumber(rec.a) then return {'expired'} end
  local ban = ''
  if rec.x == 'b' then
    local b = redis.call('GET', bkey)
    if b and tonumber(b) > now then ban = b end
  end
  return {'ended', rec.x, rec.a, rec.o or '', ban}
end
if rec.fk ~= ARGV[8] then return {'unknown'} end
-- This very call run again (a Cluster client re-sends a script whose reply it lost): the
-- new digests are this call's own, drawn at random, so no other call presents them.
if rec.f == ARGV[5] and rec.d == ARGV[4] then
  if rec.x ~= nil then return ended() end
  return {'ok', rec.u, rec.v, rec.i, rec.e, rec.ae, rec.fe}
end
-- A reuse run again: its mark (`rz`) is this call's new refresh digest, drawn at random,
-- so it answers as its first run did, not as a later presentation to an ended session.
if rec.x == 'f' and rec.rz == ARGV[5] then
  local out = {'reused'}
  if rec.rl then for _, v in ipairs({sid, rec.u, rec.v, rec.i, rec.e}) do table.insert(out, v) end end
  return out
end
if rec.f ~= ARGV[3] then
  if rec.x ~= nil then return ended() end
  -- A spent token again: whoever holds it, the session is no longer safe.
  local out = {'reused'}
  rec.rz = ARGV[5]
  if live(rec, now) then rec.rl = '1' end
  end_one(base, sid, rec, 'f', now, nowstr, rec.rl and out or {})
  redis.call('ZREM', ukey, sid)
  bury(base, now)
  announce('f')
  return out
end
if rec.x ~= nil then return ended() end
if now >= tonumber(rec.fe) or not live(rec, now) then return {'expired'} end
local cap = tonumber(rec.fc)
local ae = math.min(now + tonumber(rec.w), cap)
local fe = cap
if rec.fw then fe = math.min(now + tonumber(rec.fw), cap) end
local e = math.max(ae, fe)
fin = e
-- The replaced access token stays valid until its own end (and then says so).
rec.pd, rec.pe = rec.d, rec.ae
rec.d, rec.ae, rec.f, rec.fe, rec.e = ARGV[4], tostring(ae), ARGV[5], tostring(fe), tostring(e)
-- A refresh is a sight of the session; never back (a writer whose clock is behind).
if rec.t == nil or tonumber(rec.t) < now then rec.t = nowstr end
if rec.l then
  -- A refresh is activity: the idle deadline moves as a request's would.
  local dl = nil
  if rec.k then dl = now + tonumber(rec.k) elseif ARGV[7] ~= '' then dl = tonumber(ARGV[7]) end
  if dl then
    if dl > e then dl = e end
    if dl > tonumber(rec.l) then rec.l = tostring(dl) end
  end
  if tonumber(rec.l) < e then fin = tonumber(rec.l) end
end
local r = tonumber(rec.r)
save(KEYS[1], rec, fin + r - now)
ttl_at_least(KEYS[2], fin + r - now)
-- The windows (kept by a refresh) live to the session's end, as `elevate.lua` sets them.
ttl_at_least(KEYS[3], e - now)
ttl_at_least(ukey, e + r - now)
dir_ttl(base, e + r - now)
redis.call('PUBLISH', ARGV[#ARGV], ARGV[9])
return {'ok', rec.u, rec.v, rec.i, rec.e, rec.ae, rec.fe}
