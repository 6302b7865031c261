-- Helpers shared by the scripts. Scripts that end sessions take the revocation
-- channel as their last argument and publish `s|<reason>|<id>,<id>...[|<note>]` on it.
local ENDED, BURIED = {}, {}
local function announce(reason, note)
  if #ENDED > 0 then
    local tail = note and ('|' .. note) or ''
    redis.call('PUBLISH', ARGV[#ARGV], 's|' .. reason .. '|' .. table.concat(ENDED, ',') .. tail)
  end
end
-- Whether a decoded value has the fields, of their types, that the scripts read.
local function reads(rec)
  if type(rec) ~= 'table' then return false end
  for _, f in ipairs({'u', 'v', 'd'}) do
    if type(rec[f]) ~= 'string' then return false end
  end
  for _, f in ipairs({'i', 'e', 'r', 'n'}) do
    if tonumber(rec[f]) == nil then return false end
  end
  return rec.l == nil or tonumber(rec.l) ~= nil
end
-- A session record, or nil if it is gone or does not read as one. A record this crate
-- did not write opens no request (a lookup refuses it as corrupt), so the writes that
-- end, count or list a user's sessions pass over it, as over one that is gone: failing
-- instead, one bad record would stop every kickout, ban and login of its user.
local function load(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  local ok, rec = pcall(cjson.decode, s)
  if ok and reads(rec) then return rec end
  redis.log(redis.LOG_WARNING, 'kickout: a session record that does not read: ' .. k)
  return nil
end
-- The record a call names by its own token: one that does not read is corrupt (the
-- store answers 503, as a request's read of it does), not gone.
local function load_own(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  local ok, rec = pcall(cjson.decode, s)
  if ok and reads(rec) then return rec end
  error('kickout: a session record that does not read: ' .. k)
end
local function save(k, rec, ttl)
  if ttl < 1 then ttl = 1 end
  redis.call('SET', k, cjson.encode(rec), 'PX', ttl)
end
local function live(rec, now)
  return rec ~= nil and rec.x == nil and now < tonumber(rec.e)
    and (rec.l == nil or now < tonumber(rec.l))
end
-- Gone or a tombstone: live again for no instance, whatever its clock. A session past
-- its time only by this caller's clock stays in its user's index, so an instance whose
-- clock is behind can still end it.
local function over(rec)
  return rec == nil or rec.x ~= nil
end
local function ttl_at_least(key, ms)
  if ms < 1 then ms = 1 end
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
-- Callers declare the tag's directory and its due times (`base .. 'd'`, `'dx'`): an
-- ended session leaves them.
local function end_one(base, id, rec, reason, now, nowstr, out, note)
  rec.x = reason
  rec.a = nowstr
  rec.o = note
  save(base .. 's:' .. id, rec, tonumber(rec.e) + tonumber(rec.r) - now)
  redis.call('ZREM', base .. 'd', id)
  redis.call('ZREM', base .. 'dx', id)
  for _, v in ipairs({id, rec.u, rec.v, rec.i, rec.e}) do table.insert(out, v) end
  table.insert(ENDED, id)
  table.insert(BURIED, {id, tonumber(rec.e) + tonumber(rec.r), rec.u})
end
-- A user's index (`u:<user>`) holds the ids of the sessions that may be live, scored by
-- issue time, and after them the user's tombstones: ended sessions whose records are
-- kept, scored by `TOMB` plus when each record is due to be gone. At most @MAX_ENDED@
-- tombstones (`limits::MAX_ENDED`): past it the one nearest its forgetting goes first,
-- with its metadata and windows. One key for both, so whatever a write ends, the key
-- it files the end in exists already (a Cluster slot in migration refuses a script
-- whose keys are only partly there). Only a write at the bound declares keys that may
-- not exist (the metadata and windows it may forget): during a slot migration such a
-- write can be refused, and fails as an outage would, until the slot settles.
local TOMB = @TOMB@ -- past every issue time in ms, exact with a due time added
-- A score as Redis reads it: every digit (Lua's own formatting keeps 14).
local function score(x)
  return string.format('%.0f', x)
end
-- Oldest first, for `table.sort` of `{issued, creation order, ...}` entries: the order
-- of `plan_login` and of listings (`n` breaks ties of issue time).
local function oldest(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end
local function live_ids(ukey)
  return redis.call('ZRANGEBYSCORE', ukey, '-inf', '(' .. score(TOMB))
end
local function session_keys(base, id)
  return {base .. 's:' .. id, base .. 'm:' .. id, base .. 'e:' .. id}
end
-- Names, before `undeclared()`, what a write that may end `ids` may then forget (the
-- caller declares the user's index).
local function bury_need(base, user, now, ids)
  local ukey = base .. 'u:' .. user
  if not need(ukey) then return end
  local kept = '(' .. score(TOMB + now)
  local over = redis.call('ZCOUNT', ukey, kept, '+inf') + #ids - @MAX_ENDED@
  if over <= 0 then return end
  local old = redis.call('ZRANGEBYSCORE', ukey, kept, '+inf', 'LIMIT', 0, over)
  for _, list in ipairs({ids, old}) do
    for _, id in ipairs(list) do
      for _, k in ipairs(session_keys(base, id)) do need(k) end
    end
  end
end
-- Files the ends of this write (`end_one`) as tombstones, drops those due, and forgets
-- those past the bound.
local function bury(base, now)
  if #BURIED == 0 then return end
  local ukey = base .. 'u:' .. BURIED[1][3]
  local last = 0
  for _, b in ipairs(BURIED) do
    redis.call('ZADD', ukey, score(TOMB + b[2]), b[1])
    if b[2] > last then last = b[2] end
  end
  ttl_at_least(ukey, last - now)
  redis.call('ZREMRANGEBYSCORE', ukey, score(TOMB), score(TOMB + now))
  local over = redis.call('ZCOUNT', ukey, score(TOMB), '+inf') - @MAX_ENDED@
  if over > 0 then
    local old = redis.call('ZRANGEBYSCORE', ukey, score(TOMB), '+inf', 'LIMIT', 0, over)
    for _, id in ipairs(old) do
      redis.call('DEL', unpack(session_keys(base, id)))
    end
    redis.call('ZREM', ukey, unpack(old))
  end
end
