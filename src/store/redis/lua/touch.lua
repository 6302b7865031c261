-- KEYS session, its metadata; ARGV digest (either access token of the session), now,
-- idle deadline|'', step. A live session last seen
-- at least `step` ago is seen now (`t`), and its idle deadline, if it has one, moves
-- forward (to now plus its own idle timeout `k`, else to the deadline given; never
-- past its end). Returns 1 if it wrote.
local rec = load(KEYS[1])
local now = tonumber(ARGV[2])
if not live(rec, now) then return 0 end
-- The access token a refresh replaced is the session's too, until its own end.
local until_ = rec.ae
if rec.d ~= ARGV[1] then
  if rec.pd ~= ARGV[1] then return 0 end
  until_ = rec.pe
end
-- A refresh session's access token past its own end renews nothing.
if until_ ~= nil and now >= tonumber(until_) then return 0 end
if now < tonumber(rec.t or rec.i) + tonumber(ARGV[4]) then return 0 end
rec.t = ARGV[2]
local fin = tonumber(rec.e)
if rec.l ~= nil then
  local want = ARGV[3]
  if rec.k ~= nil then want = tostring(now + tonumber(rec.k)) end
  if want ~= '' and tonumber(want) > tonumber(rec.l) then
    local dl, dls = tonumber(want), want
    if dl > fin then dls = rec.e end
    rec.l = dls
  end
  if tonumber(rec.l) < fin then fin = tonumber(rec.l) end
end
save(KEYS[1], rec, fin + tonumber(rec.r) - now)
-- What was said at login lives as long as the session.
ttl_at_least(KEYS[2], fin + tonumber(rec.r) - now)
return 1
