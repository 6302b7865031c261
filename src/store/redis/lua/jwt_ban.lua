-- KEYS ban key, user state, index, the index's `jt:`s; ARGV base, user, until, now,
-- note|''.
-- Ends every token ('b', one bump) and sets the ban. Returns the ended (jti, device,
-- iat, exp)....
local base, user, now, nowstr = ARGV[1], ARGV[2], tonumber(ARGV[4]), ARGV[4]
local note = opt(ARGV[5])
if not jneed(base, user) then return undeclared() end
local st, ix, fresh = jopen(base, user)
jprune(base, st, ix, now)
local out = {}
local ended = oldest_first(ix, function(e) return true end)
-- Bump even with nothing listed, if there is a state (see jwt_end.lua).
if #ended > 0 or not fresh then
  bump_user(st, 'b', nowstr, note)
  -- Tokens within a verifier's leeway are ended too, though not counted.
  for _, x in ipairs(ended) do
    if tonumber(ix[x[3]].e) > now then take(base, ix, x[3], out) else take(base, ix, x[3], {}) end
  end
end
jsave(base, user, st, ix, now)
-- Kept past its end (see ban.lua).
redis.call('SET', KEYS[1], ARGV[3], 'PX', kept(ARGV[3], now))
jannounce(base, 'b', note)
return out
