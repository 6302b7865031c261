-- KEYS[1] user index; ARGV now. Read-only. Returns live (jti, device, iat, exp)...,
-- oldest first.
local now = tonumber(ARGV[1])
local ix = jload(KEYS[1]) or {}
local out = {}
for _, x in ipairs(oldest_first(ix, function(e) return tonumber(e.e) > now end)) do
  local e = ix[x[3]]
  for _, v in ipairs({x[3], e.v, e.i, e.e}) do table.insert(out, v) end
end
return out
