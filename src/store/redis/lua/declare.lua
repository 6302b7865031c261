-- What every script starts with. Every key a script touches is declared in KEYS: a
-- Cluster slot in migration (ASK, ASKING, TRYAGAIN) and cluster proxies rely on it. A
-- script first learns which further keys it needs, reading declared keys only, and asks
-- `undeclared()`: while some are missing it writes nothing and returns them nested
-- (`{{key, ...}}`, a shape no other reply has), and the store runs it again with them
-- declared.
local DECLARED, UNDECLARED = {}, {}
for _, k in ipairs(KEYS) do DECLARED[k] = true end
local function need(k)
  if not DECLARED[k] then
    DECLARED[k] = false
    table.insert(UNDECLARED, k)
  end
  return DECLARED[k] == true
end
local function undeclared()
  if #UNDECLARED > 0 then return {UNDECLARED} end
  return nil
end
-- An optional argument: nil when empty.
local function opt(v)
  if v == nil or v == '' then return nil end
  return v
end
