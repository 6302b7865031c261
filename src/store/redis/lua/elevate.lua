-- Opens a step-up window for one live session. KEYS: the session's record (`s:<id>`, or
-- in JWT mode the token's `jt:<jti>`), its windows (`e:<id>` / `je:<jti>`, JSON
-- {a: last elevated at, s: {scope: until}}). ARGV: now, user, scope, until, kind ('s' or
-- 'j'), channel. The window ends at `until`, never past the session's end; a scope
-- already open keeps the later end; at most @MAX_ELEVATIONS@ scopes are open (the rule
-- of `Elevations::elevate`). The windows' key expires with the last of them, by the
-- caller's clock. Returns the window's end, '0' if the session is not live or not the
-- user's, '-1' if too many scopes are open; a change is announced as `g|<tag>`.
local now = tonumber(ARGV[1])
local scope, want = ARGV[3], ARGV[4]
local raw = redis.call('GET', KEYS[1])
if not raw then return '0' end
local ok, rec = pcall(cjson.decode, raw)
if not ok or type(rec) ~= 'table' or rec.u ~= ARGV[2] or rec.e == nil then return '0' end
if ARGV[5] == 's' then
  if not live(rec, now) then return '0' end
elseif now >= tonumber(rec.e) then
  return '0'
end
local fin = want
if tonumber(rec.e) < tonumber(fin) then fin = rec.e end
local el = {a = ARGV[1], s = {}}
local old = redis.call('GET', KEYS[2])
if old then
  local ok2, o = pcall(cjson.decode, old)
  if ok2 and type(o) == 'table' and type(o.s) == 'table' then
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
local latest = 0
for _, u in pairs(el.s) do
  if tonumber(u) > latest then latest = tonumber(u) end
end
redis.call('SET', KEYS[2], cjson.encode(el), 'PX', math.max(1, latest - now))
redis.call('PUBLISH', ARGV[#ARGV], 'g|' .. (string.match(KEYS[1], '{(%x+)}:') or ''))
return el.s[scope]
