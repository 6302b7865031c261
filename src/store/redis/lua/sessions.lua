-- KEYS user index, its sessions and their metadata; ARGV base, now. Read-only. Returns
-- the live infos, oldest first, each followed by its last sight and metadata JSON (or
-- '').
local base, now = ARGV[1], tonumber(ARGV[2])
local ids = live_ids(KEYS[1])
for _, id in ipairs(ids) do
  need(base .. 's:' .. id)
  need(base .. 'm:' .. id)
end
local more = undeclared()
if more then return more end
local list = {}
for _, id in ipairs(ids) do
  local rec = load(base .. 's:' .. id)
  if live(rec, now) then
    local meta = redis.call('GET', base .. 'm:' .. id) or ''
    table.insert(list, {tonumber(rec.i), tonumber(rec.n), {id, rec.u, rec.v, rec.i, rec.e, rec.t or rec.i, meta}})
  end
end
table.sort(list, oldest)
local out = {}
for _, s in ipairs(list) do
  for _, v in ipairs(s[3]) do table.insert(out, v) end
end
return out
