-- KEYS[1] session; ARGV digest, now, deadline, step. Moves the idle deadline of a live
-- session forward (never past its end) when it moves by at least `step`.
local rec = load(KEYS[1])
local now = tonumber(ARGV[2])
if not live(rec, now) or rec.d ~= ARGV[1] or rec.l == nil then return 0 end
local e = tonumber(rec.e)
local dl, dls = tonumber(ARGV[3]), ARGV[3]
if dl > e then dl, dls = e, rec.e end
if dl < tonumber(rec.l) + tonumber(ARGV[4]) then return 0 end
rec.l = dls
save(KEYS[1], rec, dl + tonumber(rec.r) - now)
return 1
