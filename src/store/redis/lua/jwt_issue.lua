-- KEYS user state, index, ban, the new token's `jt:`, `jm:` and `jr:`, the tag's
-- directory, its due times (`dx`), the user's refresh records (`jf:`), then what `need`
-- names (the index's `jt:`s, the directory's due members, the refresh records a login
-- forgets); ARGV base, user, jti, device, iat, exp (the session's end), now, max (0 =
-- unlimited), per-device 1|0, refuse 1|0, epoch if new, device class, idle timeout|'',
-- metadata JSON|'', refresh record JSON|'', channel.
-- An index entry keeps its class in `c` when it is not its device name, its idle timeout
-- in `k`, and `m` when the token has metadata (`jm:`). Returns {'ok', epoch, ug, dg,
-- bumped '1'|'0', replaced (jti, device, iat, exp)...} | {'banned', until} | {'limit'} |
-- {'collision'}.
local base, user, dv, now, nowstr = ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[7]), ARGV[7]
local class = ARGV[12]
local function class_of(e) return e.c or e.v end
need(base .. 'dx')
local due = sweep_due(base, now)
if ARGV[15] ~= '' then jf_need(base, user, ARGV[3], now) end
-- The rule counts live sessions: it reads their last sights.
if not jneed(base, user, tonumber(ARGV[8]) > 0, now) then return undeclared() end
local ban = redis.call('GET', KEYS[3])
if ban and tonumber(ban) > now then return {'banned', ban} end
sweep(base, due, now)
local st, ix, fresh = jopen(base, user)
if fresh then st.ep = ARGV[11] end
jprune(base, st, ix, now)
-- This very call run again (a Cluster client re-sends a script whose reply it lost): the
-- `jti` is this call's own, drawn at random, and its entry is still there only while no
-- bump ended it, so the generations now are the ones it was issued under.
local held = ix[ARGV[3]]
if held and held.v == dv and tonumber(held.i) == tonumber(ARGV[5]) and st.bl[ARGV[3]] == nil then
  jsave(base, user, st, ix, now)
  return {'ok', st.ep, tostring(st.g), tostring((st.d[dv] and st.d[dv].g) or 0), '0'}
end
-- A `jti` another session holds: this user's (live or revoked), another user's of the
-- tag (its `jt:` entry), or a refresh record kept past its session's end. Refused; only
-- the prune is written.
if ix[ARGV[3]] or st.bl[ARGV[3]] or redis.call('EXISTS', KEYS[4], KEYS[6]) > 0 then
  jsave(base, user, st, ix, now)
  return {'collision'}
end
local replaced = {}
local max = tonumber(ARGV[8])
if max > 0 then
  -- The rule counts sessions live now; tokens in their leeway or idle too long are over
  -- for it.
  local scope = oldest_first(ix, function(e, j)
    return jlive(base, j, e, now) and (ARGV[9] == '0' or class_of(e) == class)
  end)
  if #scope >= max then
    if ARGV[10] == '1' then return {'limit'} end
    local excess = #scope - max + 1
    -- A device's generation ends only its own tokens: it serves a class only when the
    -- class holds no other device.
    local one_device = true
    for _, e in pairs(ix) do
      if class_of(e) == class and e.v ~= dv then one_device = false end
    end
    if excess == #scope and (ARGV[9] == '0' or one_device) then
      -- Take the scope first: what a device bound folds is the rest.
      for k = 1, excess do take(base, ix, scope[k][3], replaced) end
      -- The bump also ends the scope's tokens in their leeway: they leave the index too,
      -- and a device's bump every token of the device, whatever class it was filed under.
      for k, e in pairs(ix) do
        if ARGV[9] == '0' or e.v == dv then
          ix[k] = nil
          jend(base, k, e)
        end
      end
      if ARGV[9] == '1' then bump_device(base, st, ix, dv, 'r', nowstr) else bump_user(st, 'r', nowstr) end
    else
      local bumps = {}
      for k = 1, excess do
        local j = scope[k][3]
        bumps[k] = {'r', nowstr, ix[j].e}
        take(base, ix, j, replaced)
      end
      for k = 1, excess do revoke(base, st, ix, scope[k][3], bumps[k], nowstr) end
    end
  end
end
for _, v in ipairs(JVICTIMS) do table.insert(replaced, v) end
local live = 0
for _ in pairs(ix) do live = live + 1 end
if live >= @MAX_LIVE_TOKENS@ then
  -- One bump replaces them all, keeping the state small.
  bump_user(st, 'r', nowstr)
  for _, x in ipairs(oldest_first(ix, function(e) return true end)) do
    take(base, ix, x[3], replaced)
  end
end
local dg = 0
if st.d[dv] then dg = st.d[dv].g end
local seq = 0
for _, e in pairs(ix) do if e.n + 1 > seq then seq = e.n + 1 end end
if tonumber(ARGV[6]) > tonumber(st.mx) then st.mx = ARGV[6] end
ix[ARGV[3]] = {v = dv, i = ARGV[5], e = ARGV[6], n = seq}
if class ~= dv then ix[ARGV[3]].c = class end
if ARGV[13] ~= '' then ix[ARGV[3]].k = ARGV[13] end
if ARGV[14] ~= '' then ix[ARGV[3]].m = 1 end
-- As long as the index keeps it: a verifier's leeway, by a clock behind this one.
local ttl = kept(ARGV[6], now)
jtoken_set(base, ARGV[3], user, ix[ARGV[3]], ttl)
redis.call('ZADD', KEYS[7], 0, ARGV[3])
if redis.call('PTTL', KEYS[7]) < ttl then redis.call('PEXPIRE', KEYS[7], ttl) end
sweep_add(base, ARGV[3], tonumber(ARGV[6]) + GRACE, ttl)
if ARGV[14] ~= '' then redis.call('SET', KEYS[5], ARGV[14], 'PX', ttl) end
if ARGV[15] ~= '' then
  -- The refresh record names what a refresh signs: this login's generations.
  local rr = cjson.decode(ARGV[15])
  rr.u, rr.v, rr.i, rr.ep, rr.ug, rr.dg = user, dv, ARGV[5], st.ep, st.g, dg
  rr.e = ARGV[6]
  redis.call('SET', KEYS[6], cjson.encode(rr), 'PX', ttl)
  jf_file(base, user, ARGV[3], tonumber(ARGV[6]) + GRACE, now)
end
jsave(base, user, st, ix, now)
jannounce(base, 'r')
local out = {'ok', st.ep, tostring(st.g), tostring(dg), JBUMPED and '1' or '0'}
for _, v in ipairs(replaced) do table.insert(out, v) end
return out
