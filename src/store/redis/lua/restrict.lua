-- Restrictions of the users of one slot tag: KEYS[1] the tag's key, a JSON object
-- {user: {scope: [level, until, note?]}} (a request reads it beside its record, knowing
-- its tag but not yet its user). ARGV: now, user, op ('set' or 'lift'), scope, and for
-- 'set' level, until, note ('' none). Restrictions of every user past their grace
-- (@PRUNE_GRACE_MS@ ms after they lift: each reader compares them with its own clock) go
-- first; a user holds at most @MAX_RESTRICTIONS@ live scopes, and lifted ones kept for
-- the grace make room, the earliest lifted first (the rule of `Restrictions::restrict`).
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
    if tonumber(r[2]) + @PRUNE_GRACE_MS@ > now then
      kept[u] = kept[u] or {}
      kept[u][s] = r
    end
  end
end
local mine = kept[user] or {}
-- `done` answers the caller; `changed` says what to announce: a lift of one over by
-- this clock but kept answers 0, and still goes for every instance.
local done, changed = 0, 0
if op == 'set' then
  local live = 0
  for s, r in pairs(mine) do
    if s ~= scope and tonumber(r[2]) > now then live = live + 1 end
  end
  if live < @MAX_RESTRICTIONS@ then
    local r = {ARGV[5], ARGV[6]}
    if opt(ARGV[7]) then r[3] = ARGV[7] end
    mine[scope] = r
    done, changed = 1, 1
    -- At most @MAX_RESTRICTIONS@ are live, so this ends within the bound.
    while true do
      local count, first, first_until = 0, nil, nil
      for s, r in pairs(mine) do
        count = count + 1
        local u = tonumber(r[2])
        -- Ties go by scope name, as `Restrictions::restrict`'s ordered map has them.
        if u <= now and (first == nil or u < first_until or (u == first_until and s < first)) then
          first, first_until = s, u
        end
      end
      if count <= @MAX_RESTRICTIONS@ or first == nil then break end
      mine[first] = nil
    end
  end
else
  -- Whether one held by the caller's clock (a kept one is over for it).
  if mine[scope] and tonumber(mine[scope][2]) > now then done = 1 end
  if mine[scope] then changed = 1 end
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
  -- Gone by itself when the last of them is past its grace, by the caller's clock
  -- (not Redis's).
  redis.call('SET', KEYS[1], cjson.encode(kept), 'PX', math.max(1, latest + @PRUNE_GRACE_MS@ - now))
end
if changed == 1 then
  redis.call('PUBLISH', ARGV[#ARGV], 'g|' .. (string.match(KEYS[1], '{(%x+)}:rs$') or ''))
end
return done
