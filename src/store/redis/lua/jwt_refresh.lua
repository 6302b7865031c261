-- Spends a JWT-mode refresh token. KEYS the refresh record (`jr:<jti>`), the token's
-- step-up windows (`je:<jti>`), then what `need` names (the user's state, index, ban,
-- refresh records, the token's `jt:`, `jm:`, `jl:` and the index's `jt:`s); ARGV base, jti, presented digest, new digest, now, presented chain
-- digest, channel. A token of the chain (`fk`) that is not the current one (`f`) was
-- spent, however long ago (`Presented::of`). Returns
-- {'ok', user, device, login time, end, access end, refresh end, epoch, ug, dg,
-- claims|'', own idle|''} | {'unknown'} | {'expired'} | {'ended', reason, at, note|'',
-- ban end|''} | {'reused', user, ended (jti, device, iat, exp)..., '|', replaced...}.
local base, jti, now, nowstr = ARGV[1], ARGV[2], tonumber(ARGV[5]), ARGV[5]
local rr = jload(KEYS[1])
-- Past its purge time by this clock a record is gone, whatever its key's TTL says.
if rr == nil or tonumber(rr.e) + GRACE <= now then return {'unknown'} end
local user = rr.u
local bkey, tkey = base .. 'b:' .. user, base .. 'jt:' .. jti
local mkey, lkey = base .. 'jm:' .. jti, base .. 'jl:' .. jti
need(bkey)
need(tkey)
need(mkey)
need(lkey)
need(base .. 'd')
need(base .. 'dx')
need(base .. 'jf:' .. user)
if not jneed(base, user, true, now) then return undeclared() end
local st = jload(base .. 'j:' .. user)
-- A session the state does not hold as issued: over past its end, else unknown.
local function not_held()
  if now >= tonumber(rr.e) then return {'expired'} end
  return {'unknown'}
end
-- A state dropped once every token of it was over (and perhaps made anew since).
if st == nil or st.ep ~= rr.ep then return not_held() end
local ix = jload(base .. 'ji:' .. user) or {}
if rr.fk ~= ARGV[6] then return {'unknown'} end
-- A reuse run again: its mark (`rz`) is this call's new digest, drawn at random, so it
-- answers as its first run did (less the tokens a blacklist overflow replaced), not as
-- a later presentation of a revoked token.
if rr.rz == ARGV[4] then
  local out = {'reused', user}
  if rr.ro then
    table.insert(out, jti)
    for _, v in ipairs(rr.ro) do table.insert(out, v) end
  end
  table.insert(out, '|')
  return out
end
-- This very call run again (a Cluster client re-sends a script whose reply it lost) is
-- the same rotation: the new digest is this call's own, drawn at random, and the same
-- `now` writes the same ends.
local current = rr.f == ARGV[3] or rr.f == ARGV[4]
-- Why the session ended, if it did: as `JwtState::ended` for its login's generations.
local function first_bump(bumps, from)
  local best, at, last, last_at = nil, nil, nil, nil
  for g, b in pairs(bumps) do
    local n = tonumber(g)
    if n >= from and (at == nil or n < at) then best, at = b, n end
    if n < from and (last_at == nil or n > last_at) then last, last_at = b, n end
  end
  -- None at or past it: a store rolled back, whose latest bump jumped past it.
  -- A bump is kept until every token it ended expired: none left to name it.
  return best or last or {'k', '0', '0'}
end
local why = nil
local function consider(b)
  if b and (why == nil or tonumber(b[2]) < tonumber(why[2])) then why = b end
end
-- The most specific first: of two ends at one time, the token's or its device's.
consider(st.bl[jti])
local d = st.d[rr.v]
if d and rr.dg < d.g then consider(first_bump(d.b, rr.dg)) end
if rr.ug < st.g then consider(first_bump(st.gb, rr.ug)) end
if why then
  -- Idle by then, it was over first (`Ended::after_idle`): an end pinned its last sight
  -- (`jpin`); a live one's may be gone, and says nothing.
  local k = tonumber(rr.k or '')
  local seen = tonumber(redis.call('GET', lkey) or '')
  if k and k > 0 and seen and seen + k <= tonumber(why[2]) then return {'expired'} end
  local ban = ''
  if why[1] == 'b' then
    local b = redis.call('GET', bkey)
    if b and tonumber(b) > now then ban = b end
  end
  return {'ended', why[1], why[2], why[4] or '', ban}
end
-- As `JwtState::issued`: a login under a generation the state never reached outlived a
-- rollback of the store (or, past the session's end, its device was forgotten).
if rr.ug > st.g or rr.dg > ((d and d.g) or 0) then return not_held() end
jprune(base, st, ix, now)
local e = ix[jti]
if not current then
  -- A spent token again: whoever holds it, the session is no longer safe.
  if not e then return {'expired'} end
  local out = {'reused', user}
  rr.rz = ARGV[4]
  if jlive(base, jti, e, now) then rr.ro = {e.v, e.i, e.e} end
  redis.call('SET', KEYS[1], cjson.encode(rr), 'KEEPTTL')
  if rr.ro then take(base, ix, jti, out) else take(base, ix, jti, {}) end
  revoke(base, st, ix, jti, {'f', nowstr, e.e}, nowstr)
  jsave(base, user, st, ix, now)
  jannounce(base, 'f')
  table.insert(out, '|')
  for _, v in ipairs(JVICTIMS) do table.insert(out, v) end
  return out
end
if now >= tonumber(rr.fe) or now >= tonumber(rr.fc) or not e or tonumber(e.e) <= now then
  return {'expired'}
end
if e.k then
  local seen = redis.call('GET', lkey)
  local last = tonumber(e.i)
  if seen and tonumber(seen) > last then last = tonumber(seen) end
  if now >= last + tonumber(e.k) then return {'expired'} end
end
rr.f = ARGV[4]
local cap = tonumber(rr.fc)
local ae = math.min(now + tonumber(rr.w), cap)
local fe = cap
if rr.fw then fe = math.min(now + tonumber(rr.fw), cap) end
local fin = math.max(ae, fe)
rr.fe, rr.e = tostring(fe), tostring(fin)
e.e = tostring(fin)
if fin > tonumber(st.mx) then st.mx = tostring(fin) end
local ttl = kept(fin, now)
redis.call('SET', KEYS[1], cjson.encode(rr), 'PX', ttl)
-- Its place among the user's records moves with it (one filed before them is left).
local fkey = base .. 'jf:' .. user
redis.call('ZADD', fkey, 'XX', fin + GRACE, jti)
if redis.call('PTTL', fkey) < ttl then redis.call('PEXPIRE', fkey, ttl) end
-- The token's entry says its new end (the directory lists it from there).
jtoken_set(base, jti, user, e, ttl)
if redis.call('PTTL', mkey) < ttl then redis.call('PEXPIRE', mkey, ttl) end
-- The windows (kept by a refresh) live to the token's end, as `elevate.lua` sets them.
if redis.call('PTTL', KEYS[2]) < fin - now then redis.call('PEXPIRE', KEYS[2], fin - now) end
dir_ttl(base, ttl)
-- A refresh is a sight of the session; never back (a writer whose clock is behind).
local seen = tonumber(redis.call('GET', lkey) or '')
if seen == nil or now > seen then
  redis.call('SET', lkey, nowstr, 'PX', ttl)
elseif redis.call('PTTL', lkey) < ttl then
  redis.call('PEXPIRE', lkey, ttl)
end
jsave(base, user, st, ix, now)
return {'ok', user, rr.v, rr.i, tostring(fin), tostring(ae), tostring(fe), st.ep,
  tostring(rr.ug), tostring(rr.dg), rr.x or '', rr.k or ''}
