-- Opens a step-up window for one live session. KEYS: the session's record (`s:<id>`, or
-- in JWT mode the token's `jt:<jti>`), its windows (`e:<id>` / `je:<jti>`, JSON
-- {u: user, a: last elevated at, s: {scope: until}}), and in JWT mode the token's last
-- sight (`jl:<jti>`). ARGV: now, user, scope, until, kind ('s' or 'j'), the message
-- announcing it, channel. The window ends at `until`, never past the session's end; a
-- scope already open keeps the later end; at most @MAX_ELEVATIONS@ scopes are open (the
-- rule of `Elevations::elevate`). The windows' key lives as long as the session, by the
-- caller's clock, so it still says when the session was last elevated. Returns the
-- window's end, '0' if the session is not live or not the user's, '-1' if too many
-- scopes are open. (Closing: below.)
local now = tonumber(ARGV[1])
local user, scope, want = ARGV[2], ARGV[3], ARGV[4]
-- An empty `until` closes the scope's window instead (whatever the session's state):
-- '1' if one was open, else '0'.
if want == '' then
  local raw = redis.call('GET', KEYS[2])
  if not raw then return '0' end
  local ok, o = pcall(cjson.decode, raw)
  if not ok or type(o) ~= 'table' or o.u ~= user or type(o.s) ~= 'table' then return '0' end
  if o.s[scope] == nil then return '0' end
  local open = tonumber(o.s[scope]) > now
  o.s[scope] = nil
  redis.call('SET', KEYS[2], cjson.encode(o), 'KEEPTTL')
  redis.call('PUBLISH', ARGV[#ARGV], ARGV[6])
  if open then return '1' end
  return '0'
end
local raw = redis.call('GET', KEYS[1])
if not raw then return '0' end
local ok, rec = pcall(cjson.decode, raw)
if ARGV[5] == 's' then
  -- The record of the caller's own token: one that does not read is corrupt, not gone.
  if not (ok and reads(rec)) then error('kickout: a record that does not read: ' .. KEYS[1]) end
elseif not ok or type(rec) ~= 'table' then
  -- A `jt:` entry of an earlier version is its user's name alone: over for this.
  return '0'
end
if rec.u ~= user or rec.e == nil then return '0' end
if ARGV[5] == 's' then
  if not live(rec, now) then return '0' end
else
  if now >= tonumber(rec.e) then return '0' end
  -- Idle too long (the rule of `JwtEntry::is_live`): over, though not yet swept.
  if rec.k ~= nil and rec.i ~= nil then
    local last = tonumber(rec.i)
    local seen = tonumber(redis.call('GET', KEYS[3]) or '0')
    if seen > last then last = seen end
    if now >= last + tonumber(rec.k) then return '0' end
  end
end
local fin = want
if tonumber(rec.e) < tonumber(fin) then fin = rec.e end
local el = {u = user, a = ARGV[1], s = {}}
local old = redis.call('GET', KEYS[2])
if old then
  local ok2, o = pcall(cjson.decode, old)
  if ok2 and type(o) == 'table' and o.u == user and type(o.s) == 'table' then
    for sc, u in pairs(o.s) do
      if tonumber(u) > now then el.s[sc] = u end
    end
    if o.a and tonumber(o.a) > now then el.a = o.a end
  end
end
local others = 0
for sc in pairs(el.s) do
  if sc ~= scope then others = others + 1 end
end
if others >= @MAX_ELEVATIONS@ then return '-1' end
if el.s[scope] == nil or tonumber(el.s[scope]) < tonumber(fin) then el.s[scope] = fin end
redis.call('SET', KEYS[2], cjson.encode(el), 'PX', math.max(1, tonumber(rec.e) - now))
redis.call('PUBLISH', ARGV[#ARGV], ARGV[6])
return el.s[scope]
