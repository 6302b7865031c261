-- A page of one slot tag's directory (JWT mode). KEYS the tag's directory, then what
-- `need` names (its members' `jt:` and `jl:`); ARGV base, after member|'', members to
-- look at, now, most to return, class|''. Each member costs the read of its own small
-- `jt:` entry, never its user's index. Drops members whose token is gone; leaves
-- session mode's members (`own_member`) alone. Returns {last
-- member looked at|'', looked at, 1|0 (more members remain), then (jti, user, device,
-- issued, expires, last seen, class)...}.
local base, now, scan, max = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[3]), tonumber(ARGV[5])
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local members = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, scan + 1)
local n = math.min(#members, scan)
for i = 1, n do
  if own_member(members[i], true) then
    need(base .. 'jt:' .. members[i])
    need(base .. 'jl:' .. members[i])
  end
end
local more = undeclared()
if more then return more end
local tokens = {}
for i = 1, n do
  -- An entry that does not read fails the page, as a session record does: left out,
  -- its user would be missed by the incident switch (which walks these pages), and
  -- the switch would report itself done. The error names the key to repair.
  local t = nil
  if own_member(members[i], true) then
    local key = base .. 'jt:' .. members[i]
    local ok, read = pcall(jtoken, redis.call('GET', key))
    if not ok then error('kickout: corrupt token entry ' .. key) end
    t = read
  end
  tokens[members[i]] = t
  -- An entry of an earlier version names only its user: read its index, as then.
  if t and t.e == nil then need(base .. 'ji:' .. t.u) end
end
more = undeclared()
if more then return more end
local out = {'', '0', #members > scan and '1' or '0'}
local found, looked, indexes = 0, 0, {}
for i = 1, n do
  if found >= max then
    out[3] = '1'
    break
  end
  local j = members[i]
  looked = looked + 1
  out[1] = j
  local e = tokens[j]
  if not own_member(j, true) then
    -- A session's: its own mode's pages list it.
    e = false
  end
  if e and e.e == nil then
    indexes[e.u] = indexes[e.u] or jload(base .. 'ji:' .. e.u) or {}
    local old = indexes[e.u][j]
    if old then old.u = e.u end
    e = old
  end
  if e == false then
    -- Left alone.
  elseif e == nil then
    redis.call('ZREM', KEYS[1], j)
  elseif tonumber(e.e) > now and (ARGV[6] == '' or (e.c or e.v) == ARGV[6]) then
    local seen = redis.call('GET', base .. 'jl:' .. j) or e.i
    if tonumber(seen) < tonumber(e.i) then seen = e.i end
    -- Idle too long is over, as a request would be told.
    if e.k == nil or now < tonumber(seen) + tonumber(e.k) then
      found = found + 1
      for _, v in ipairs({j, e.u, e.v, e.i, e.e, seen, e.c or e.v}) do table.insert(out, v) end
    end
  end
end
out[2] = tostring(looked)
return out
