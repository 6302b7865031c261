//! The Lua scripts: one per domain operation, each atomic and one round trip.
//!
//! Every key a script touches shares the user's hash tag (`{tttt}`), so on a Cluster
//! they sit in one slot. Scripts get the key prefix with its tag (`ARGV[1]`, "base") and
//! build the record keys of the user's index from it.
//!
//! A session record is a hash: `d` token digest, `u` user, `v` device, `i` issued,
//! `e` expires, `l` idle deadline (absent without idle timeout), `r` retention, `n`
//! creation order among the user's sessions, and for a tombstone `x` reason
//! (`o` logged out, `k` kicked, `r` replaced, `b` banned) and `a` when.

/// Helpers shared by the scripts.
const COMMON: &str = r#"
local function live(e, l, x, now)
  if not e or x then return false end
  if now >= tonumber(e) then return false end
  if l and now >= tonumber(l) then return false end
  return true
end
local function ttl_at_least(key, ms)
  if ms < 1 then ms = 1 end
  local t = redis.call('PTTL', key)
  if t < ms then redis.call('PEXPIRE', key, ms) end
end
local function end_one(base, id, reason, now, out)
  local k = base .. 's:' .. id
  local f = redis.call('HMGET', k, 'u', 'v', 'i', 'e', 'r')
  redis.call('HSET', k, 'x', reason, 'a', now)
  local ttl = tonumber(f[4]) + tonumber(f[5]) - now
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', k, ttl)
  table.insert(out, id); table.insert(out, f[1]); table.insert(out, f[2])
  table.insert(out, f[3]); table.insert(out, f[4])
end
"#;

/// KEYS[1] session; ARGV base, digest, now, touch deadline or '', touch step.
/// Returns nil, or {user, device, issued, expires, idle|'', reason|'', at|'', ban|''}.
const LOOKUP: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'd', 'u', 'v', 'i', 'e', 'l', 'r', 'x', 'a')
if not f[1] or f[1] ~= ARGV[2] then return false end
local now = tonumber(ARGV[3])
local e = tonumber(f[5])
local r = tonumber(f[7])
local l = f[6] and tonumber(f[6])
local fin = e
if l and not f[8] and l < e then fin = l end
if fin + r <= now then return false end
local ban = ''
if f[8] == 'b' then
  local b = redis.call('GET', ARGV[1] .. 'b:' .. f[2])
  if b and tonumber(b) > now then ban = b end
end
if ARGV[4] ~= '' and l and live(f[5], f[6], f[8], now) then
  local dl = tonumber(ARGV[4])
  if dl > e then dl = e end
  if dl >= l + tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'l', dl)
    redis.call('PEXPIRE', KEYS[1], dl + r - now)
  end
end
return {f[2], f[3], f[4], f[5], f[6] or '', f[8] or '', f[9] or '', ban}
"#;

/// KEYS[1] user index; ARGV base, sid, digest, user, device, issued, expires, idle|'',
/// retain, now, max (0 = unlimited), per-device 1|0, refuse 1|0.
/// Returns {'ok', replaced infos...} | {'banned', until} | {'limit'} | {'collision'}.
const CREATE: &str = r#"
local base = ARGV[1]
local now = tonumber(ARGV[10])
local ban = redis.call('GET', base .. 'b:' .. ARGV[4])
if ban and tonumber(ban) > now then return {'banned', ban} end
local skey = base .. 's:' .. ARGV[2]
if redis.call('EXISTS', skey) == 1 then return {'collision'} end
local scope = {}
local maxn = -1
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', base .. 's:' .. id, 'v', 'i', 'e', 'l', 'x', 'n')
  if live(f[3], f[4], f[5], now) then
    local n = tonumber(f[6])
    if n > maxn then maxn = n end
    if ARGV[12] == '0' or f[1] == ARGV[5] then
      table.insert(scope, {tonumber(f[2]), n, id})
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
    end_one(base, scope[k][3], 'r', now, out)
    redis.call('ZREM', KEYS[1], scope[k][3])
  end
end
local e = tonumber(ARGV[7])
local r = tonumber(ARGV[9])
redis.call('HSET', skey, 'd', ARGV[3], 'u', ARGV[4], 'v', ARGV[5], 'i', ARGV[6],
  'e', ARGV[7], 'r', ARGV[9], 'n', maxn + 1)
local fin = e
if ARGV[8] ~= '' then
  redis.call('HSET', skey, 'l', ARGV[8])
  if tonumber(ARGV[8]) < e then fin = tonumber(ARGV[8]) end
end
local ttl = fin + r - now
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', skey, ttl)
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[2])
ttl_at_least(KEYS[1], e + r - now)
return out
"#;

/// Ends live sessions, leaving tombstones. KEYS[1] user index; ARGV base, 'u', reason,
/// now, device|'' — or KEYS[1] session; ARGV base, 's', reason, now, sid, digest|''.
/// Returns the ended infos, flattened by five.
const END: &str = r#"
local base, reason, now = ARGV[1], ARGV[3], tonumber(ARGV[4])
local out = {}
if ARGV[2] == 's' then
  local f = redis.call('HMGET', KEYS[1], 'd', 'u', 'e', 'l', 'x')
  if not f[1] or (ARGV[6] ~= '' and f[1] ~= ARGV[6]) then return out end
  if live(f[3], f[4], f[5], now) then
    end_one(base, ARGV[5], reason, now, out)
    redis.call('ZREM', base .. 'u:' .. f[2], ARGV[5])
  end
  return out
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', base .. 's:' .. id, 'v', 'e', 'l', 'x')
  if live(f[2], f[3], f[4], now) then
    if ARGV[5] == '' or f[1] == ARGV[5] then
      end_one(base, id, reason, now, out)
      redis.call('ZREM', KEYS[1], id)
    end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"#;

/// KEYS[1] ban key; ARGV base, user, until, now. Ends every live session ('b') and
/// sets the ban. Returns the ended infos.
const BAN: &str = r#"
local base, now = ARGV[1], tonumber(ARGV[4])
local ukey = base .. 'u:' .. ARGV[2]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', ukey, 0, -1)) do
  local f = redis.call('HMGET', base .. 's:' .. id, 'e', 'l', 'x')
  if live(f[1], f[2], f[3], now) then end_one(base, id, 'b', now, out) end
  redis.call('ZREM', ukey, id)
end
local ttl = tonumber(ARGV[3]) - now
if ttl < 1 then ttl = 1 end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl)
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
  local f = redis.call('HMGET', base .. 's:' .. id, 'u', 'v', 'i', 'e', 'l', 'x', 'n')
  if live(f[4], f[5], f[6], now) then
    table.insert(list, {tonumber(f[3]), tonumber(f[7]), {id, f[1], f[2], f[3], f[4]}})
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
local f = redis.call('HMGET', KEYS[1], 'd', 'u', 'v', 'i', 'e', 'l', 'x', 'r')
if not f[1] or f[1] ~= ARGV[2] or not live(f[5], f[6], f[7], now) then return false end
local e = tonumber(ARGV[3])
local r = tonumber(f[8])
redis.call('HSET', KEYS[1], 'e', ARGV[3])
local fin = e
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[1], 'l', ARGV[4])
  if tonumber(ARGV[4]) < e then fin = tonumber(ARGV[4]) end
else
  redis.call('HDEL', KEYS[1], 'l')
end
redis.call('PEXPIRE', KEYS[1], math.max(1, fin + r - now))
ttl_at_least(base .. 'u:' .. f[2], e + r - now)
return {f[2], f[3], f[4]}
"#;

/// The scripts, compiled once per store (their SHA-1 computed once; `EVALSHA` with a
/// fallback to loading them).
pub(super) struct Scripts {
    pub(super) lookup: redis::Script,
    pub(super) create: redis::Script,
    pub(super) end: redis::Script,
    pub(super) ban: redis::Script,
    pub(super) unban: redis::Script,
    pub(super) sessions: redis::Script,
    pub(super) renew: redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let with_common = |body: &str| redis::Script::new(&format!("{COMMON}{body}"));
        Self {
            lookup: with_common(LOOKUP),
            create: with_common(CREATE),
            end: with_common(END),
            ban: with_common(BAN),
            unban: redis::Script::new(UNBAN),
            sessions: with_common(SESSIONS),
            renew: with_common(RENEW),
        }
    }
}
