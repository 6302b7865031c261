-- KEYS user index, ban, the new session, its metadata, the tag's directory, its due
-- times (`dx`), then what `need` names (the index's sessions, the directory's due
-- members); ARGV base,
-- sid, digest, user, device, issued, expires, idle|'', retain, now, max (0 = unlimited),
-- per-device (per class) 1|0, refuse 1|0, device class, own idle timeout|'', metadata
-- JSON|'', refresh fields JSON|'' (`ae` access end, `f` refresh digest, `fe` its end,
-- `fc` cap, `fw` window, `w` access lifetime). A record keeps its class in `c` when it
-- is not its device name, its own lifetime in `w` and idle timeout in `k`.
-- Returns {'ok', replaced infos...} | {'banned', until} | {'limit'} | {'collision'}.
local base = ARGV[1]
local ids = live_ids(KEYS[1])
for _, id in ipairs(ids) do need(base .. 's:' .. id) end
need(base .. 'dx')
bury_need(base, ARGV[4], tonumber(ARGV[10]), ids)
local due = sweep_due(base, tonumber(ARGV[10]))
local more = undeclared()
if more then return more end
local now, nowstr = tonumber(ARGV[10]), ARGV[10]
local ban = redis.call('GET', KEYS[2])
if ban and tonumber(ban) > now then return {'banned', ban} end
local skey = KEYS[3]
if redis.call('EXISTS', skey) == 1 then
  -- This very call run again (a Cluster client re-sends a script whose reply it lost):
  -- the digest is this call's own, drawn at random. What the first run replaced is
  -- ended and announced, but no longer known to name here.
  local held = load(skey)
  if held and held.d == ARGV[3] and held.u == ARGV[4] and held.v == ARGV[5]
    and held.i == ARGV[6] then
    return {'ok'}
  end
  return {'collision'}
end
sweep(base, due, now)
-- The index's sessions not over ({issued, creation order, id, record}), and of them
-- those the rule counts.
local held, scope = {}, {}
local maxn = -1
for _, id in ipairs(ids) do
  local rec = load(base .. 's:' .. id)
  if over(rec) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[5], id)
  else
    local n = tonumber(rec.n)
    if n > maxn then maxn = n end
    local x = {tonumber(rec.i), n, id, rec}
    table.insert(held, x)
    -- The rule counts sessions live now.
    if live(rec, now) and (ARGV[12] == '0' or (rec.c or rec.v) == ARGV[14]) then
      table.insert(scope, x)
    end
  end
end
local out = {'ok'}
local max = tonumber(ARGV[11])
if max > 0 and #scope >= max then
  if ARGV[13] == '1' then return {'limit'} end
  table.sort(scope, oldest)
  for k = 1, #scope - max + 1 do
    end_one(base, scope[k][3], scope[k][4], 'r', now, nowstr, out)
    redis.call('ZREM', KEYS[1], scope[k][3])
  end
end
-- MAX_LIVE_TOKENS, whatever the rule: the oldest of those left go, by issue time then
-- creation order (as `plan_login`; the index's own order breaks ties by id).
local left = {}
for _, x in ipairs(held) do
  if x[4].x == nil then table.insert(left, x) end
end
if #left >= @MAX_LIVE_TOKENS@ then
  table.sort(left, oldest)
  for k = 1, #left - @MAX_LIVE_TOKENS@ + 1 do
    end_one(base, left[k][3], left[k][4], 'r', now, nowstr, out)
    redis.call('ZREM', KEYS[1], left[k][3])
  end
end
local e, r = tonumber(ARGV[7]), tonumber(ARGV[9])
local rec = {d = ARGV[3], u = ARGV[4], v = ARGV[5], i = ARGV[6], e = ARGV[7], r = ARGV[9],
  n = tostring(maxn + 1)}
if ARGV[14] ~= ARGV[5] then rec.c = ARGV[14] end
rec.w = tostring(tonumber(ARGV[7]) - tonumber(ARGV[6]))
if ARGV[15] ~= '' then rec.k = ARGV[15] end
if ARGV[17] ~= '' then
  for k, v in pairs(cjson.decode(ARGV[17])) do rec[k] = v end
end
local fin = e
if ARGV[8] ~= '' then
  rec.l = ARGV[8]
  if tonumber(ARGV[8]) < e then fin = tonumber(ARGV[8]) end
end
save(skey, rec, fin + r - now)
if ARGV[16] ~= '' then
  local ttl = fin + r - now
  if ttl < 1 then ttl = 1 end
  redis.call('SET', KEYS[4], ARGV[16], 'PX', ttl)
end
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[2])
ttl_at_least(KEYS[1], e + r - now)
redis.call('ZADD', KEYS[5], 0, ARGV[2])
ttl_at_least(KEYS[5], e + r - now)
sweep_add(base, ARGV[2], fin + r, e + r - now)
bury(base, now)
announce('r')
return out
