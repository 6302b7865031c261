-- Helpers shared by the scripts. Scripts that end sessions take the revocation
-- channel as their last argument and publish `s|<reason>|<id>,<id>...[|<note>]` on it.
local ENDED = {}
local function announce(reason, note)
  if #ENDED > 0 then
    local tail = note and ('|' .. note) or ''
    redis.call('PUBLISH', ARGV[#ARGV], 's|' .. reason .. '|' .. table.concat(ENDED, ',') .. tail)
  end
end
local function load(k)
  local s = redis.call('GET', k)
  if not s then return nil end
  return cjson.decode(s)
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
-- Callers declare the tag's directory (`base .. 'd'`): an ended session leaves it.
local function end_one(base, id, rec, reason, now, nowstr, out, note)
  rec.x = reason
  rec.a = nowstr
  rec.o = note
  save(base .. 's:' .. id, rec, tonumber(rec.e) + tonumber(rec.r) - now)
  redis.call('ZREM', base .. 'd', id)
  for _, v in ipairs({id, rec.u, rec.v, rec.i, rec.e}) do table.insert(out, v) end
  table.insert(ENDED, id)
end
