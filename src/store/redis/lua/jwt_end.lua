-- KEYS user state, index (modes 'u' all, 'd' one device, 'o' all others) or the
-- token's `jt:` key (mode 't'), then what `jneed` names; ARGV base, mode, reason, now,
-- device|jti|kept jti|'', user|'' (in mode 't', the user the token must be), note|''. Returns
-- {user, ended (jti, device, iat, exp)..., and if a bound (blacklist, devices) replaced
-- tokens: '|', replaced (same)...}.
local base, mode, reason, now, nowstr = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[4]
local user, note = ARGV[6], opt(ARGV[7])
if mode == 't' then
  local t = jtoken(redis.call('GET', KEYS[1]))
  if not t or (user ~= '' and t.u ~= user) then return {} end
  user = t.u
end
if not jneed(base, user, true, now) then return undeclared() end
local st, ix, fresh = jopen(base, user)
jprune(base, st, ix, now)
local out = {user}
if mode == 't' then
  local e = ix[ARGV[5]]
  if e then
    -- Past its expiry it is listed (the mode counts what its leeway accepts); idle,
    -- it is over for every instance: ended, announced, not listed.
    take(base, ix, ARGV[5], jidle(base, ARGV[5], e, now) and {} or out)
    revoke(base, st, ix, ARGV[5], {reason, nowstr, e.e, note}, nowstr)
  end
elseif mode == 'o' then
  -- One by one: a generation bump would end the kept token too.
  for _, x in ipairs(oldest_first(ix, function(e) return true end)) do
    local j = x[3]
    local e = ix[j]
    if j ~= ARGV[5] and e then
      -- Listed as one token's end is: no bump reaches those past their expiry.
      take(base, ix, j, jidle(base, j, e, now) and {} or out)
      revoke(base, st, ix, j, {reason, nowstr, e.e, note}, nowstr)
    end
  end
else
  local ended = oldest_first(ix, function(e) return mode == 'u' or e.v == ARGV[5] end)
  -- Bump even with nothing listed (the index is pruned by this caller's clock; a
  -- slower instance may still accept a token dropped from it) — if there is a state,
  -- and for a device, if the state knows it (`JwtState::end_user`: unknown devices
  -- would fill MAX_DEVICES, past which the fold ends every session).
  if #ended > 0 or (not fresh and (mode == 'u' or st.d[ARGV[5]] ~= nil)) then
    -- Take them first: what a device bound folds is the rest. Tokens past their
    -- expiry but within a verifier's leeway, and idle ones, are ended too, though not
    -- counted.
    for _, x in ipairs(ended) do
      take(base, ix, x[3], jlive(base, x[3], ix[x[3]], now) and out or {})
    end
    if mode == 'u' then bump_user(st, reason, nowstr, note)
    else bump_device(base, st, ix, ARGV[5], reason, nowstr, note) end
  end
end
jsave(base, user, st, ix, now)
jannounce(base, reason, note)
if #JVICTIMS > 0 then
  table.insert(out, '|')
  for _, v in ipairs(JVICTIMS) do table.insert(out, v) end
end
return out
