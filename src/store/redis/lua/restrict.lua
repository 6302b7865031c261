-- Restrictions of the users of one slot tag: KEYS[1] the tag's key, a JSON object
-- {user: {scope: [level, until, note?]}} (a request reads it beside its record, knowing
-- its tag but not yet its user). ARGV: now, user, op ('set' or 'lift'), scope, and for
-- 'set' level, until, note ('' none). Ended restrictions of every user go first; a user
-- holds at most @MAX_RESTRICTIONS@ live scopes (the rule of `Restrictions::restrict`).
-- A change is announced on the revocation channel (ARGV[#ARGV]) as `g|<tag>`: caches of
-- the tag's sessions then read again. Returns 1 if set (or, to lift, if one held), else 0.
local now = tonumber(ARGV[1])
local user, op, scope = ARGV[2], ARGV[3], ARGV[4]
local raw = redis.call('GET', KEYS[1])
local all = {}
if raw then
  local ok, decoded = pcall(cjson.decode, raw)
  -- Never start again over what does not decode: the write would drop every other
  -- user's restrictions. (Their requests fail closed meanwhile: the key is corrupt.)
  if not ok or type(decoded) ~= 'table' then
    return redis.error_reply('kickout: corrupt restrictions')
  end
  all = decoded
end
local kept = {}
for u, scopes in pairs(all) do
  for s, r in pairs(scopes) do
    if tonumber(r[2]) > now then
      kept[u] = kept[u] or {}
      kept[u][s] = r
    end
  end
end
local mine = kept[user] or {}
local done = 0
if op == 'set' then
  local count = 0
  for _ in pairs(mine) do count = count + 1 end
  if mine[scope] or count < @MAX_RESTRICTIONS@ then
    local r = {ARGV[5], ARGV[6]}
    if opt(ARGV[7]) then r[3] = ARGV[7] end
    mine[scope] = r
    done = 1
  end
else
  if mine[scope] then done = 1 end
  mine[scope] = nil
end
if next(mine) == nil then kept[user] = nil else kept[user] = mine end
local latest = 0
for _, scopes in pairs(kept) do
  for _, r in pairs(scopes) do
    if tonumber(r[2]) > latest then latest = tonumber(r[2]) end
  end
end
if latest == 0 then
  redis.call('DEL', KEYS[1])
else
  -- Gone by itself when the last of them lifts, by the caller's clock (not Redis's).
  redis.call('SET', KEYS[1], cjson.encode(kept), 'PX', math.max(1, latest - now))
end
if done == 1 then
  redis.call('PUBLISH', ARGV[#ARGV], 'g|' .. (string.match(KEYS[1], '{(%x+)}:rs$') or ''))
end
return done
