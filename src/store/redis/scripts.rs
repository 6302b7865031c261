//! The Lua scripts of every write: one per domain operation, each atomic and one round
//! trip. (A lookup is a plain `GET`; see the module docs.)
//!
//! Every key a script touches shares the user's hash tag (`{tttt}`), so on a Cluster
//! they sit in one slot. Scripts get the key prefix with its tag (`ARGV[1]`, "base") and
//! build the keys of the user's records from it.
//!
//! A session record is a JSON object (encoded with Redis's `cjson`): `d` token digest
//! (hex), `u` user, `v` device, `i` issued, `e` expires, `l` idle deadline (absent
//! without idle timeout), `r` retention, `n` creation order among the user's sessions,
//! and for a tombstone `x` reason (`o` logged out, `k` kicked, `r` replaced, `b` banned)
//! and `a` when. Times are Unix milliseconds kept as decimal strings, so no float
//! formatting ever rounds them; Lua compares them with `tonumber` (exact below 2^53).

/// Helpers shared by the scripts. Scripts that end sessions take the revocation
/// channel as their last argument and publish `s|<reason>|<id>,<id>...` on it.
const COMMON: &str = r#"
local ENDED = {}
local function announce(reason)
  if #ENDED > 0 then
    redis.call('PUBLISH', ARGV[#ARGV], 's|' .. reason .. '|' .. table.concat(ENDED, ','))
  end
end
local function load(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  return cjson.decode(s)
end
local function save(k, rec, ttl)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', k, cjson.encode(rec), 'PX', ttl)
end
local function live(rec, now)
  return rec ~= nil and rec.x == nil and now < tonumber(rec.e)
    and (rec.l == nil or now < tonumber(rec.l))
end
local function ttl_at_least(key, ms)
  if ms < 1 then ms = 1 end
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
local function end_one(base, id, rec, reason, now, nowstr, out)
  rec.x = reason
  rec.a = nowstr
  save(base .. 's:' .. id, rec, tonumber(rec.e) + tonumber(rec.r) - now)
  for _, v in ipairs({id, rec.u, rec.v, rec.i, rec.e}) do table.insert(out, v) end
  table.insert(ENDED, id)
end
"#;

/// KEYS[1] session; ARGV digest, now, deadline, step. Moves the idle deadline of a live
/// session forward (never past its end) when it moves by at least `step`.
const TOUCH: &str = r#"
local rec = load(KEYS[1])
local now = tonumber(ARGV[2])
if not live(rec, now) or rec.d ~= ARGV[1] or rec.l == nil then return 0 end
local e = tonumber(rec.e)
local dl, dls = tonumber(ARGV[3]), ARGV[3]
if dl > e then dl, dls = e, rec.e end
if dl < tonumber(rec.l) + tonumber(ARGV[4]) then return 0 end
rec.l = dls
save(KEYS[1], rec, dl + tonumber(rec.r) - now)
return 1
"#;

/// KEYS[1] user index; ARGV base, sid, digest, user, device, issued, expires, idle|'',
/// retain, now, max (0 = unlimited), per-device 1|0, refuse 1|0.
/// Returns {'ok', replaced infos...} | {'banned', until} | {'limit'} | {'collision'}.
const CREATE: &str = r#"
local base = ARGV[1]
local now, nowstr = tonumber(ARGV[10]), ARGV[10]
local ban = redis.call('GET', base .. 'b:' .. ARGV[4])
if ban and tonumber(ban) > now then return {'banned', ban} end
local skey = base .. 's:' .. ARGV[2]
if redis.call('EXISTS', skey) == 1 then return {'collision'} end
local scope = {}
local maxn = -1
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = load(base .. 's:' .. id)
  if live(rec, now) then
    local n = tonumber(rec.n)
    if n > maxn then maxn = n end
    if ARGV[12] == '0' or rec.v == ARGV[5] then
      table.insert(scope, {tonumber(rec.i), n, id, rec})
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
local out = {'ok'}
local max = tonumber(ARGV[11])
if max > 0 and #scope >= max then
  if ARGV[13] == '1' then return {'limit'} end
  table.sort(scope, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  for k = 1, #scope - max + 1 do
    end_one(base, scope[k][3], scope[k][4], 'r', now, nowstr, out)
    redis.call('ZREM', KEYS[1], scope[k][3])
  end
end
-- MAX_LIVE_TOKENS, whatever the rule: the oldest go.
local live = redis.call('ZCARD', KEYS[1])
if live >= 1024 then
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, live - 1024)) do
    local old = load(base .. 's:' .. id)
    if old then end_one(base, id, old, 'r', now, nowstr, out) end
    redis.call('ZREM', KEYS[1], id)
  end
end
local e, r = tonumber(ARGV[7]), tonumber(ARGV[9])
local rec = {d = ARGV[3], u = ARGV[4], v = ARGV[5], i = ARGV[6], e = ARGV[7], r = ARGV[9],
  n = tostring(maxn + 1)}
local fin = e
if ARGV[8] ~= '' then
  rec.l = ARGV[8]
  if tonumber(ARGV[8]) < e then fin = tonumber(ARGV[8]) end
end
save(skey, rec, fin + r - now)
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[2])
ttl_at_least(KEYS[1], e + r - now)
announce('r')
return out
"#;

/// Ends live sessions, leaving tombstones. KEYS[1] user index; ARGV base, 'u', reason,
/// now, device|'' — or KEYS[1] session; ARGV base, 's', reason, now, sid, digest|''.
/// Returns the ended infos, flattened by five.
const END: &str = r#"
local base, reason, now, nowstr = ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[4]
local out = {}
if ARGV[2] == 's' then
  local rec = load(KEYS[1])
  if live(rec, now) and (ARGV[6] == '' or rec.d == ARGV[6]) then
    end_one(base, ARGV[5], rec, reason, now, nowstr, out)
    redis.call('ZREM', base .. 'u:' .. rec.u, ARGV[5])
  end
  announce(reason)
  return out
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = load(base .. 's:' .. id)
  if live(rec, now) then
    if ARGV[5] == '' or rec.v == ARGV[5] then
      end_one(base, id, rec, reason, now, nowstr, out)
      redis.call('ZREM', KEYS[1], id)
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
announce(reason)
return out
"#;

/// KEYS[1] ban key; ARGV base, user, until, now. Ends every live session ('b') and
/// sets the ban. Returns the ended infos.
const BAN: &str = r#"
local base, now, nowstr = ARGV[1], tonumber(ARGV[4]), ARGV[4]
local ukey = base .. 'u:' .. ARGV[2]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
  local rec = load(base .. 's:' .. id)
  if live(rec, now) then end_one(base, id, rec, 'b', now, nowstr, out) end
  redis.call('ZREM', ukey, id)
end
local ttl = tonumber(ARGV[3]) - now
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
announce('b')
return out
"#;

/// KEYS[1] ban key; ARGV now. Returns 1 if a ban stood.
const UNBAN: &str = r#"
local b = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
if b and tonumber(b) > tonumber(ARGV[1]) then return 1 end
return 0
"#;

/// KEYS[1] user index; ARGV base, now. Read-only. Returns the live infos, oldest first.
const SESSIONS: &str = r#"
local base, now = ARGV[1], tonumber(ARGV[2])
local list = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local rec = load(base .. 's:' .. id)
  if live(rec, now) then
    table.insert(list, {tonumber(rec.i), tonumber(rec.n), {id, rec.u, rec.v, rec.i, rec.e}})
  end
end
table.sort(list, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local out = {}
for _, s in ipairs(list) do
  for _, v in ipairs(s[3]) do table.insert(out, v) end
end
return out
"#;

/// KEYS[1] session; ARGV base, digest, expires, idle|'', now.
/// Returns {user, device, issued} of the renewed session, or nil.
const RENEW: &str = r#"
local base, now = ARGV[1], tonumber(ARGV[5])
local rec = load(KEYS[1])
if not live(rec, now) or rec.d ~= ARGV[2] then return false end
local e, r = tonumber(ARGV[3]), tonumber(rec.r)
rec.e = ARGV[3]
local fin = e
if ARGV[4] ~= '' then
  rec.l = ARGV[4]
  if tonumber(ARGV[4]) < e then fin = tonumber(ARGV[4]) end
else
  rec.l = nil
end
save(KEYS[1], rec, fin + r - now)
ttl_at_least(base .. 'u:' .. rec.u, e + r - now)
return {rec.u, rec.v, rec.i}
"#;

/// JWT mode's helpers: a user's state (`j:<user>`, read by validation) and index
/// (`ji:<user>`), both JSON; `jt:<jti>` names the user of a live token.
#[cfg(feature = "jwt")]
const JWT_COMMON: &str = r#"
local JENDED = {}
-- Tokens a blacklist overflow replaced: flat (jti, device, iat, exp), and their jtis.
local JVICTIMS, JVICTIM_IDS = {}, {}
local function jpublish(base, reason, ids)
  if #ids > 0 then
    local tag = string.match(base, '{(%x+)}:$') or ''
    redis.call('PUBLISH', ARGV[#ARGV],
      'j|' .. reason .. '|' .. tag .. '|' .. table.concat(ids, ','))
  end
end
local function jannounce(base, reason)
  jpublish(base, reason, JENDED)
  jpublish(base, 'r', JVICTIM_IDS)
end
local function jload(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  return cjson.decode(s)
end
-- PRUNE_GRACE_MS, MAX_BUMPS, MAX_REVOKED of src/store/jwt.rs.
local GRACE, MAX_BUMPS, MAX_REVOKED = 600000, 32, 1024
local function jopen(base, user)
  local st = jload(base .. 'j:' .. user)
  local fresh = st == nil
  st = st or {ep = '0', g = 0, gb = {}, d = {}, bl = {}, mx = '0'}
  return st, (jload(base .. 'ji:' .. user) or {}), fresh
end
local function jprune(st, ix, now)
  local cutoff = now - GRACE
  for j, e in pairs(ix) do if tonumber(e.e) <= now then ix[j] = nil end end
  for j, b in pairs(st.bl) do if tonumber(b[3]) <= cutoff then st.bl[j] = nil end end
  for g, b in pairs(st.gb) do if tonumber(b[3]) <= cutoff then st.gb[g] = nil end end
  for dv, d in pairs(st.d) do
    for g, b in pairs(d.b) do if tonumber(b[3]) <= cutoff then d.b[g] = nil end end
    if next(d.b) == nil then
      local used = false
      for _, e in pairs(ix) do if e.v == dv then used = true end end
      if not used then st.d[dv] = nil end
    end
  end
end
local function jsave(base, user, st, ix, now)
  local skey, ikey = base .. 'j:' .. user, base .. 'ji:' .. user
  local ttl = tonumber(st.mx) + GRACE - now
  if ttl < 1 then ttl = 1 end
  if next(ix) == nil and next(st.bl) == nil and next(st.gb) == nil and next(st.d) == nil then
    redis.call('DEL', skey, ikey)
    return
  end
  redis.call('SET', skey, cjson.encode(st), 'PX', ttl)
  if next(ix) == nil then redis.call('DEL', ikey) else
    redis.call('SET', ikey, cjson.encode(ix), 'PX', ttl) end
end
local function trim(bumps)
  local count, oldest = 0, nil
  for g in pairs(bumps) do
    count = count + 1
    if oldest == nil or tonumber(g) < tonumber(oldest) then oldest = g end
  end
  if count > MAX_BUMPS then bumps[oldest] = nil end
end
local function bump_user(st, reason, nowstr)
  st.gb[tostring(st.g)] = {reason, nowstr, st.mx}
  st.g = st.g + 1
  trim(st.gb)
end
local function bump_device(st, dv, reason, nowstr)
  local d = st.d[dv] or {g = 0, b = {}}
  d.b[tostring(d.g)] = {reason, nowstr, st.mx}
  d.g = d.g + 1
  trim(d.b)
  st.d[dv] = d
end
local function revoke(base, st, ix, j, bump, nowstr)
  st.bl[j] = bump
  local count = 0
  for _ in pairs(st.bl) do count = count + 1 end
  if count > MAX_REVOKED then
    bump_user(st, 'r', nowstr)
    st.bl = {}
    for k, e in pairs(ix) do
      for _, v in ipairs({k, e.v, e.i, e.e}) do table.insert(JVICTIMS, v) end
      table.insert(JVICTIM_IDS, k)
      ix[k] = nil
      redis.call('DEL', base .. 'jt:' .. k)
    end
  end
end
local function oldest_first(ix, keep)
  local list = {}
  for j, e in pairs(ix) do
    if keep(e) then table.insert(list, {tonumber(e.i), e.n, j}) end
  end
  table.sort(list, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  return list
end
local function take(base, ix, j, out)
  local e = ix[j]
  for _, v in ipairs({j, e.v, e.i, e.e}) do table.insert(out, v) end
  ix[j] = nil
  redis.call('DEL', base .. 'jt:' .. j)
  table.insert(JENDED, j)
end
"#;

/// KEYS[1] user state; ARGV base, user, jti, device, iat, exp, now, max (0 = unlimited),
/// per-device 1|0, refuse 1|0, epoch if new, channel. Returns {'ok', epoch, ug, dg,
/// replaced (jti, device, iat, exp)...}
/// | {'banned', until} | {'limit'}.
#[cfg(feature = "jwt")]
const JWT_ISSUE: &str = r#"
local base, user, dv, now, nowstr = ARGV[1], ARGV[2], ARGV[4], tonumber(ARGV[7]), ARGV[7]
local ban = redis.call('GET', base .. 'b:' .. user)
if ban and tonumber(ban) > now then return {'banned', ban} end
local st, ix, fresh = jopen(base, user)
if fresh then st.ep = ARGV[11] end
jprune(st, ix, now)
local replaced = {}
local max = tonumber(ARGV[8])
if max > 0 then
  local scope = oldest_first(ix, function(e) return ARGV[9] == '0' or e.v == dv end)
  if #scope >= max then
    if ARGV[10] == '1' then return {'limit'} end
    local excess = #scope - max + 1
    if excess == #scope then
      if ARGV[9] == '1' then bump_device(st, dv, 'r', nowstr) else bump_user(st, 'r', nowstr) end
      for k = 1, excess do take(base, ix, scope[k][3], replaced) end
    else
      local bumps = {}
      for k = 1, excess do
        local j = scope[k][3]
        bumps[k] = {'r', nowstr, ix[j].e}
        take(base, ix, j, replaced)
      end
      for k = 1, excess do revoke(base, st, ix, scope[k][3], bumps[k], nowstr) end
      for _, v in ipairs(JVICTIMS) do table.insert(replaced, v) end
    end
  end
end
local live = 0
for _ in pairs(ix) do live = live + 1 end
if live >= 1024 then
  -- MAX_LIVE_TOKENS: one bump replaces them all, keeping the state small.
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
local ttl = tonumber(ARGV[6]) - now
if ttl < 1 then ttl = 1 end
redis.call('SET', base .. 'jt:' .. ARGV[3], user, 'PX', ttl)
jsave(base, user, st, ix, now)
jannounce(base, 'r')
local out = {'ok', st.ep, tostring(st.g), tostring(dg)}
for _, v in ipairs(replaced) do table.insert(out, v) end
return out
"#;

/// KEYS[1] user state (modes 'u', 'd') or the token's `jt:` key (mode 't'); ARGV base,
/// mode, reason, now, device|jti|'', user|''. Returns {user, ended (jti, device, iat,
/// exp)..., and if a blacklist overflow replaced tokens: '|', replaced (same)...}.
#[cfg(feature = "jwt")]
const JWT_END: &str = r#"
local base, mode, reason, now, nowstr = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[4]
local user = ARGV[6]
if mode == 't' then
  user = redis.call('GET', KEYS[1])
  if not user then return {} end
end
local st, ix = jopen(base, user)
jprune(st, ix, now)
local out = {user}
if mode == 't' then
  local e = ix[ARGV[5]]
  if e then
    take(base, ix, ARGV[5], out)
    revoke(base, st, ix, ARGV[5], {reason, nowstr, e.e}, nowstr)
  end
else
  local ended = oldest_first(ix, function(e) return mode == 'u' or e.v == ARGV[5] end)
  if #ended > 0 then
    if mode == 'u' then bump_user(st, reason, nowstr) else bump_device(st, ARGV[5], reason, nowstr) end
    for _, x in ipairs(ended) do take(base, ix, x[3], out) end
  end
end
jsave(base, user, st, ix, now)
jannounce(base, reason)
if #JVICTIMS > 0 then
  table.insert(out, '|')
  for _, v in ipairs(JVICTIMS) do table.insert(out, v) end
end
return out
"#;

/// KEYS[1] ban key; ARGV base, user, until, now. Ends every token ('b', one bump) and
/// sets the ban. Returns the ended (jti, device, iat, exp)....
#[cfg(feature = "jwt")]
const JWT_BAN: &str = r#"
local base, user, now, nowstr = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[4]
local st, ix = jopen(base, user)
jprune(st, ix, now)
local out = {}
local ended = oldest_first(ix, function(e) return true end)
if #ended > 0 then
  bump_user(st, 'b', nowstr)
  for _, x in ipairs(ended) do take(base, ix, x[3], out) end
end
jsave(base, user, st, ix, now)
local ttl = tonumber(ARGV[3]) - now
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
jannounce(base, 'b')
return out
"#;

/// KEYS[1] user index; ARGV now. Read-only. Returns live (jti, device, iat, exp)...,
/// oldest first.
#[cfg(feature = "jwt")]
const JWT_SESSIONS: &str = r#"
local now = tonumber(ARGV[1])
local ix = jload(KEYS[1]) or {}
local out = {}
for _, x in ipairs(oldest_first(ix, function(e) return tonumber(e.e) > now end)) do
  local e = ix[x[3]]
  for _, v in ipairs({x[3], e.v, e.i, e.e}) do table.insert(out, v) end
end
return out
"#;

/// The scripts, compiled once per store (their SHA-1 computed once; `EVALSHA` with a
/// fallback to loading them).
pub(super) struct Scripts {
    pub(super) touch: redis::Script,
    pub(super) create: redis::Script,
    pub(super) end: redis::Script,
    pub(super) ban: redis::Script,
    pub(super) unban: redis::Script,
    pub(super) sessions: redis::Script,
    pub(super) renew: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_issue: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_end: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_ban: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_sessions: redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let with_common = |body: &str| redis::Script::new(&format!("{COMMON}{body}"));
        #[cfg(feature = "jwt")]
        let with_jwt = |body: &str| redis::Script::new(&format!("{JWT_COMMON}{body}"));
        Self {
            touch: with_common(TOUCH),
            create: with_common(CREATE),
            end: with_common(END),
            ban: with_common(BAN),
            unban: redis::Script::new(UNBAN),
            sessions: with_common(SESSIONS),
            renew: with_common(RENEW),
            #[cfg(feature = "jwt")]
            jwt_issue: with_jwt(JWT_ISSUE),
            #[cfg(feature = "jwt")]
            jwt_end: with_jwt(JWT_END),
            #[cfg(feature = "jwt")]
            jwt_ban: with_jwt(JWT_BAN),
            #[cfg(feature = "jwt")]
            jwt_sessions: with_jwt(JWT_SESSIONS),
        }
    }
}
