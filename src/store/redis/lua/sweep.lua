-- The tag's directory (`d`) sheds the entries of sessions that are over, a few at each
-- login of the tag, so it holds the live sessions and those ended within their
-- retention without anyone walking it. `dx` scores each member by when its key is due
-- to be gone; `sweep_due` names the due members' keys (to `need`), and `sweep` drops
-- those that are gone and schedules the rest for when their key's TTL runs out. The
-- keys' TTLs are the server's clock, so no writer's clock drops a live session.
-- Both modes may share a prefix, and so a tag's directory: a member is a session id,
-- whose key is its record (`s:`), or a shorter `jti`, whose key is its token's entry
-- (`jt:`). Each login sweeps both kinds (one mode may be gone for good), and a page
-- lists its own kind and leaves the other's alone.
local function member_key(base, id)
  if #id == @JTI_LEN@ then return base .. 'jt:' .. id end
  return base .. 's:' .. id
end
local function own_member(id, jwt)
  return (#id == @JTI_LEN@) == jwt
end
local function sweep_due(base, now)
  local due = redis.call('ZRANGEBYSCORE', base .. 'dx', '-inf', now, 'LIMIT', 0, @DIR_SWEEP@)
  for _, id in ipairs(due) do need(member_key(base, id)) end
  return due
end
local function sweep(base, due, now)
  for _, id in ipairs(due) do
    local k = member_key(base, id)
    if redis.call('EXISTS', k) == 0 then
      redis.call('ZREM', base .. 'd', id)
      redis.call('ZREM', base .. 'dx', id)
    else
      local ttl = redis.call('PTTL', k)
      if ttl < @DIR_RECHECK_MS@ then ttl = @DIR_RECHECK_MS@ end
      redis.call('ZADD', base .. 'dx', now + ttl, id)
    end
  end
end
-- A new member, due when its key is (`at`); `dx` lives as long as `d`.
local function sweep_add(base, id, at, ttl)
  redis.call('ZADD', base .. 'dx', at, id)
  if ttl < 1 then ttl = 1 end
  if redis.call('PTTL', base .. 'dx') < ttl then redis.call('PEXPIRE', base .. 'dx', ttl) end
end
-- The directory, and its due times, live at least `ttl` more (callers declare both).
local function dir_ttl(base, ttl)
  if ttl < 1 then ttl = 1 end
  for _, k in ipairs({base .. 'd', base .. 'dx'}) do
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
