-- A page of one slot tag's directory (session mode). KEYS the tag's directory, then what
-- `need` names (its members' records); ARGV base, after member|'', members to look at,
-- now, most to return, class|''. Drops members whose session can never be live again;
-- leaves JWT mode's members (`own_member`) alone.
-- Returns {last member looked at|'', looked at, 1|0 (more members remain), then (sid,
-- user, device, issued, expires, last seen, class)...}.
local base, now, scan, max = ARGV[1], tonumber(ARGV[4]), tonumber(ARGV[3]), tonumber(ARGV[5])
local from = '-'
if ARGV[2] ~= '' then from = '(' .. ARGV[2] end
local members = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, scan + 1)
local n = math.min(#members, scan)
for i = 1, n do
  if own_member(members[i], false) then need(base .. 's:' .. members[i]) end
end
local more = undeclared()
if more then return more end
local out = {'', '0', #members > scan and '1' or '0'}
local found, looked = 0, 0
for i = 1, n do
  if found >= max then
    out[3] = '1'
    break
  end
  local id = members[i]
  looked = looked + 1
  out[1] = id
  local rec = own_member(id, false) and load(base .. 's:' .. id)
  if rec == false then
    -- A JWT's: its own mode's pages list it.
  elseif over(rec) then
    redis.call('ZREM', KEYS[1], id)
  elseif live(rec, now) and (ARGV[6] == '' or (rec.c or rec.v) == ARGV[6]) then
    found = found + 1
    for _, v in ipairs({id, rec.u, rec.v, rec.i, rec.e, rec.t or rec.i, rec.c or rec.v}) do
      table.insert(out, v)
    end
  end
end
out[2] = tostring(looked)
return out
