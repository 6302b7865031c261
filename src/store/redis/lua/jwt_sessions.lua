-- KEYS user index, its tokens' `jm:` and `jl:`; ARGV base, now. Read-only. Returns
-- live (jti, device, iat, exp, last seen, metadata JSON|'')..., oldest first.
local base, now = ARGV[1], tonumber(ARGV[2])
local ix = jload(KEYS[1]) or {}
local list = oldest_first(ix, function(e) return tonumber(e.e) > now end)
for _, x in ipairs(list) do
  need(base .. 'jm:' .. x[3])
  need(base .. 'jl:' .. x[3])
end
local more = undeclared()
if more then return more end
local out = {}
for _, x in ipairs(list) do
  local e = ix[x[3]]
  local meta = redis.call('GET', base .. 'jm:' .. x[3]) or ''
  local seen = redis.call('GET', base .. 'jl:' .. x[3]) or e.i
  if tonumber(seen) < tonumber(e.i) then seen = e.i end
  -- Idle too long is over, as a request would be told.
  if e.k == nil or now < tonumber(seen) + tonumber(e.k) then
    for _, v in ipairs({x[3], e.v, e.i, e.e, seen, meta}) do table.insert(out, v) end
  end
end
return out
