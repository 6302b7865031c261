-- JWT mode's helpers: a user's state (`j:<user>`, read by validation) and index
-- (`ji:<user>`), both JSON; `jt:<jti>` is a live token's own entry (its user, and what
-- the directory lists of it), so ending or listing one token reads one small key.
local JENDED = {}
-- The time to pin idle tokens' last sights at as they leave the index (`jpin`): set by
-- `jneed` when the script declared the sights.
local JPIN_NOW = nil
-- The blacklist's size, counted once per script (`revoke`): "sign out the others"
-- revokes up to MAX_LIVE_TOKENS tokens in one script, and recounting at each would be
-- quadratic. Whatever drops entries resets it.
local BLN = nil
-- Tokens a bound's fold replaced: flat (jti, device, iat, exp), the live ones; and the
-- jtis it ended, idle ones too (announced).
local JVICTIMS, JVICTIM_IDS = {}, {}
local function jpublish(base, reason, ids, note)
  if #ids > 0 then
    local tag = string.match(base, '{(%x+)}:$') or ''
    redis.call('PUBLISH', ARGV[#ARGV],
      'j|' .. reason .. '|' .. tag .. '|' .. table.concat(ids, ',') .. (note and ('|' .. note) or ''))
  end
end
-- Set by every generation bump: it ends tokens whether or not the index lists them.
local JBUMPED = false
local function jannounce(base, reason, note)
  jpublish(base, reason, JENDED, note)
  jpublish(base, 'r', JVICTIM_IDS)
  if JBUMPED then
    redis.call('PUBLISH', ARGV[#ARGV], 'g|' .. (string.match(base, '{(%x+)}:$') or ''))
  end
end
local function jload(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  return cjson.decode(s)
end
-- A live token's `jt:` entry, from its index entry `e`, for `ttl` ms.
local function jtoken_set(base, j, user, e, ttl)
  if ttl < 1 then ttl = 1 end
  local t = {u = user, v = e.v, i = e.i, e = e.e, c = e.c, k = e.k}
  redis.call('SET', base .. 'jt:' .. j, cjson.encode(t), 'PX', ttl)
end
-- A `jt:` entry read back; one written by an earlier version holds only the user (a
-- name: not empty, at most @MAX_NAME_LEN@ bytes, no control character). Anything else is
-- an error: read as some other user's, the token's logout or kickout would find nothing
-- and leave it valid.
local function jtoken(raw)
  if not raw then return nil end
  local ok, t = pcall(cjson.decode, raw)
  if ok and type(t) == 'table' then return t end
  if #raw == 0 or #raw > @MAX_NAME_LEN@ or string.find(raw, '%c') then
    error('kickout: corrupt token entry')
  end
  return {u = raw}
end
-- Bounds of src/store/limits.rs, substituted when the store is built.
local GRACE, MAX_BUMPS, MAX_REVOKED = @PRUNE_GRACE_MS@, @MAX_BUMPS@, @MAX_REVOKED@
local MAX_DEVICES = @MAX_DEVICES@
-- How long a key of what ends at `e` is kept (ms, at least 1): past its end by the
-- grace, as the index keeps a token for a verifier's leeway by a clock behind this one.
local function kept(e, now)
  local ttl = tonumber(e) + GRACE - now
  if ttl < 1 then return 1 end
  return ttl
end
-- A token leaves the index (`e`, its entry there): its entry goes at once (the state
-- says why it ended), its metadata too if it has some (`m`: written with the entry,
-- with the same TTL), and it leaves the tag's directory and due times. Its last sight
-- and windows keep their own TTLs: they may not exist, and a Cluster slot in migration
-- refuses a script whose keys are only partly there.
local function jdrop(base, j, e)
  redis.call('DEL', base .. 'jt:' .. j)
  if e and e.m then redis.call('DEL', base .. 'jm:' .. j) end
  redis.call('ZREM', base .. 'd', j)
  redis.call('ZREM', base .. 'dx', j)
end
-- Declares the user's state and index, the tag's directory and due times, and the
-- `jt:` keys (and `jm:`, if any) of the tokens in the index (which `take`, `fold` and
-- `jprune` drop); with `sights`, the last sights (`jl:`) of those with an idle timeout,
-- for `jlive`. Only a script that reads them asks for them: a sight may not exist, and
-- a key that does not exist refuses a script in a slot migration (TRYAGAIN). True when
-- all were declared.
local function jneed(base, user, sights, now)
  if sights then JPIN_NOW = now end
  local ikey = base .. 'ji:' .. user
  need(base .. 'j:' .. user)
  need(base .. 'd')
  need(base .. 'dx')
  if need(ikey) then
    for j, e in pairs(jload(ikey) or {}) do
      need(base .. 'jt:' .. j)
      if e.m then need(base .. 'jm:' .. j) end
      if sights and e.k then need(base .. 'jl:' .. j) end
    end
  end
  return #UNDECLARED == 0
end
-- A user's refresh records (`jf:<user>`): the `jti`s of `jr:` keys, scored by when
-- each is due to be gone; at most @MAX_REFRESH_TOKENS@ (`limits::MAX_REFRESH_TOKENS`),
-- past which a login forgets the one due first among those of sessions over: not in
-- the user's index (the caller declared it), which holds the live ones. `jf_need`
-- picks them before `undeclared()` and names their keys; `jf_file` files the new one
-- and forgets them (more sessions may end on the way: those stay, to the next login).
local JF_GONE = {}
local function jf_need(base, user, jti, now)
  local fkey, ikey = base .. 'jf:' .. user, base .. 'ji:' .. user
  if not (need(fkey) and need(ikey)) then return end
  local kept = '(' .. string.format('%.0f', now)
  local over = redis.call('ZCOUNT', fkey, kept, '+inf') + 1 - @MAX_REFRESH_TOKENS@
  if over <= 0 then return end
  local ix = jload(ikey) or {}
  for _, j in ipairs(redis.call('ZRANGEBYSCORE', fkey, kept, '+inf')) do
    if #JF_GONE >= over then break end
    if ix[j] == nil and j ~= jti then
      need(base .. 'jr:' .. j)
      table.insert(JF_GONE, j)
    end
  end
end
local function jf_file(base, user, j, at, now)
  local fkey = base .. 'jf:' .. user
  redis.call('ZADD', fkey, at, j)
  if redis.call('PTTL', fkey) < at - now then redis.call('PEXPIRE', fkey, math.max(at - now, 1)) end
  redis.call('ZREMRANGEBYSCORE', fkey, '-inf', now)
  for _, o in ipairs(JF_GONE) do
    redis.call('DEL', base .. 'jr:' .. o)
    redis.call('ZREM', fkey, o)
  end
end
local function jopen(base, user)
  local st = jload(base .. 'j:' .. user)
  local fresh = st == nil
  st = st or {ep = '0', g = 0, gb = {}, d = {}, bl = {}, mx = '0'}
  return st, (jload(base .. 'ji:' .. user) or {}), fresh
end
local function jprune(base, st, ix, now)
  local cutoff = now - GRACE
  -- A token stays in the index as long as its revocation would: a verifier's leeway
  -- may accept it, by a clock behind this one (`JwtState::prune`).
  for j, e in pairs(ix) do
    if tonumber(e.e) <= cutoff then
      ix[j] = nil
      jdrop(base, j, e)
    end
  end
  for j, b in pairs(st.bl) do if tonumber(b[3]) <= cutoff then st.bl[j] = nil end end
  BLN = nil
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
  local ttl = kept(st.mx, now)
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
-- A bump is {reason, at, until[, note]}.
local function bump_user(st, reason, nowstr, note)
  JBUMPED = true
  st.gb[tostring(st.g)] = {reason, nowstr, st.mx, note}
  -- As `next_generation`: one more, or the clock if ahead (past a rolled-back store's).
  st.g = math.max(st.g + 1, tonumber(nowstr))
  trim(st.gb)
end
-- Whether token `j`, entry `e` of the index, went unused past its idle timeout by now
-- (`JwtEntry::is_idle`): its last sight is its `jl:`, which `jneed` declares when asked.
local function jidle(base, j, e, now)
  -- An entry whose timeout does not read idles never here: an end still ends it.
  local k, last = tonumber(e.k), tonumber(e.i)
  if k == nil or last == nil then return false end
  local seen = tonumber(redis.call('GET', base .. 'jl:' .. j) or '')
  if seen and seen > last then last = seen end
  return now >= last + k
end
-- Whether it is live now (`JwtEntry::is_live`): before its end, and not idle.
local function jlive(base, j, e, now)
  return tonumber(e.e) > now and not jidle(base, j, e, now)
end
-- An idle token leaving the index by an end keeps its last sight (its login's time if
-- none), as long as the state may name it: the sight says it was over before the end
-- (`Ended::after_idle`; the Rust stores keep its entry instead). A live one's sight
-- keeps its own TTL: gone, it says nothing, and the end's reason stands.
local function jpin(base, j, e)
  if JPIN_NOW == nil or not jidle(base, j, e, JPIN_NOW) then return end
  local key = base .. 'jl:' .. j
  local last = tonumber(e.i)
  local seen = tonumber(redis.call('GET', key) or '')
  if seen and seen > last then last = seen end
  redis.call('SET', key, string.format('%.0f', last), 'PX', kept(e.e, JPIN_NOW))
end
-- A token leaves the index by an end.
local function jend(base, j, e)
  jpin(base, j, e)
  jdrop(base, j, e)
end
-- Past a bound, one user bump replaces every token: they go to the victims, but idle
-- ones, over already, are only announced (`JwtState::take_unidle`; every script that
-- may fold declares the last sights).
local function fold(base, st, ix, nowstr)
  bump_user(st, 'r', nowstr)
  local now = tonumber(nowstr)
  for k, e in pairs(ix) do
    if not jidle(base, k, e, now) then
      for _, v in ipairs({k, e.v, e.i, e.e}) do table.insert(JVICTIMS, v) end
    end
    table.insert(JVICTIM_IDS, k)
    ix[k] = nil
    jend(base, k, e)
  end
end
local function size(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end
-- Past MAX_DEVICES devices with a generation, no device generation is needed any more.
local function bump_device(base, st, ix, dv, reason, nowstr, note)
  JBUMPED = true
  local d = st.d[dv] or {g = 0, b = {}}
  d.b[tostring(d.g)] = {reason, nowstr, st.mx, note}
  d.g = math.max(d.g + 1, tonumber(nowstr))
  trim(d.b)
  st.d[dv] = d
  if size(st.d) > MAX_DEVICES then
    -- This device's bump stays: it says why its tokens ended (`JwtState::bump_device`).
    st.d = {[dv] = d}
    fold(base, st, ix, nowstr)
  end
end
local function revoke(base, st, ix, j, bump, nowstr)
  if BLN == nil then BLN = size(st.bl) end
  if st.bl[j] == nil then BLN = BLN + 1 end
  st.bl[j] = bump
  if BLN > MAX_REVOKED then
    -- This token's revocation stays: it says why it ended (`JwtState::revoke`).
    BLN = 1
    st.bl = {[j] = bump}
    fold(base, st, ix, nowstr)
  end
end
local function oldest_first(ix, keep)
  local list = {}
  for j, e in pairs(ix) do
    if keep(e, j) then table.insert(list, {tonumber(e.i), e.n, j}) end
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
  jend(base, j, e)
  table.insert(JENDED, j)
end
