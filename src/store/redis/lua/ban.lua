-- A ban ends the user's sessions of both modes, in one script: a store may be shared by
-- handles of either mode, and the ban record is the user's. KEYS ban key, user index,
-- then what `need` names (its sessions, the JWT state, index and tokens); ARGV base,
-- user, until, now, note|''. Ends every live session ('b') and every token (one bump),
-- and sets the ban. Returns {count of session fields, the ended sessions' infos...,
-- the ended tokens' (jti, device, iat, exp)...}.
local base, user, now, nowstr = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[4]
local note = opt(ARGV[5])
-- Set first, before any record is read: should one not decode (the script then fails
-- and answers 503, and a retry is due), logins are refused all the same, and the
-- sessions ended before the failure answer `banned`. Kept past its end, as a revocation
-- is (readers compare it with their own clocks): a writer whose clock is ahead would
-- otherwise lift it early for every instance.
redis.call('SET', KEYS[1], ARGV[3], 'PX', kept(ARGV[3], now))
local ukey = KEYS[2]
local ids = live_ids(ukey)
for _, id in ipairs(ids) do need(base .. 's:' .. id) end
need(base .. 'd')
need(base .. 'dx')
bury_need(base, user, now, ids)
-- A JWT index that does not decode names no token to end one by one; the bump below
-- ends them all, so it goes rather than stopping the ban. (Their entries and sights
-- age out.)
local jikey = base .. 'ji:' .. user
if need(jikey) then
  local raw = redis.call('GET', jikey)
  local ok, ix = false, nil
  if raw then ok, ix = pcall(cjson.decode, raw) end
  ok = ok and type(ix) == 'table'
  -- Each entry as the walks below read it: a table with its times.
  if ok then
    for _, e in pairs(ix) do
      if type(e) ~= 'table' or tonumber(e.e) == nil or tonumber(e.i) == nil then ok = false end
    end
  end
  if raw and not ok then redis.call('DEL', jikey) end
end
jneed(base, user, true, now)
local more = undeclared()
if more then return more end
local out = {}
for _, id in ipairs(ids) do
  local rec = load(base .. 's:' .. id)
  -- Ended whatever this clock says; reported only if live by this one.
  if not over(rec) then end_one(base, id, rec, 'b', now, nowstr, live(rec, now) and out or {}, note) end
  redis.call('ZREM', ukey, id)
end
bury(base, now)
announce('b', note)
local st, ix, fresh = jopen(base, user)
jprune(base, st, ix, now)
local tokens = {}
local ended = oldest_first(ix, function(e) return true end)
-- Bump even with nothing listed, if there is a state (see jwt_end.lua).
if #ended > 0 or not fresh then
  bump_user(st, 'b', nowstr, note)
  -- Tokens within a verifier's leeway, and idle ones, are ended too, though not counted.
  for _, x in ipairs(ended) do
    take(base, ix, x[3], jlive(base, x[3], ix[x[3]], now) and tokens or {})
  end
end
jsave(base, user, st, ix, now)
jannounce(base, 'b', note)
table.insert(out, 1, tostring(#out))
for _, v in ipairs(tokens) do table.insert(out, v) end
return out
