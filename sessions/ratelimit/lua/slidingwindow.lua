
-- Sliding window log. KEYS[1]: list of admission ticks ascending (one entry per cost unit, at most LIMIT,
-- reservations may lie in the future); KEYS[2]: paused_until. ARGV[5] limit, ARGV[6] window (ticks).
local LIMIT, WINDOW = tonumber(ARGV[5]), tonumber(ARGV[6])
local LOG, PAUSE = KEYS[1], KEYS[2]

-- 0-based index of the first entry > cutoff (bisect_right): older entries bind no future slot.
-- Commits trim expired entries, so the head is usually live: check it before bisecting.
local function first_live(n, cutoff)
  if tonumber(redis.call('LINDEX', LOG, 0)) > cutoff then
    return 0
  end
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if tonumber(redis.call('LINDEX', LOG, mid)) <= cutoff then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end

local function remaining(paused, k, last, now)
  if paused > now or (k > 0 and last > now) then
    return 0
  end
  return LIMIT - k
end

local function reset(paused, last, now)
  local stop = 0
  if last then
    stop = last + WINDOW
  end
  return max(stop, paused) - now
end

local function set_ttl(paused, now, ttl)
  redis.call('PEXPIRE', LOG, ttl_ms(ttl))
  if paused > now then
    redis.call('PEXPIRE', PAUSE, ttl_ms(ttl))
  end
end

local function commit(paused, e, k, cost, slot, now)
  local drop = max(0, k + cost - LIMIT)
  if e + drop > 0 then
    redis.call('LTRIM', LOG, int(e + drop), -1)
  end
  local entry, pushed = int(slot), 0
  while pushed < cost do -- in chunks: unpack() of a huge table would overflow the Lua stack
    local chunk = {}
    for i = 1, math.min(cost - pushed, 256) do
      chunk[i] = entry
    end
    redis.call('RPUSH', LOG, unpack(chunk))
    pushed = pushed + #chunk
  end
  local ttl = reset(paused, slot, now)
  set_ttl(paused, now, ttl)
  local rem = 0
  if not (paused > now or slot > now) then
    rem = LIMIT - (k + cost - drop)
  end
  return reply(1, rem, 0, ttl, slot - now)
end

local function decide(now, cost, max_wait)
  local paused = tonumber(redis.call('GET', PAUSE) or '0')
  local n = redis.call('LLEN', LOG)
  local e = 0
  if n > 0 then
    e = first_live(n, now - WINDOW)
  end
  local k, last = n - e, nil
  if k > 0 then
    last = tonumber(redis.call('LINDEX', LOG, -1))
  end
  if cost > LIMIT then
    return reply(0, remaining(paused, k, last, now), -1, reset(paused, last, now), 0)
  end
  local slot = max(now, paused)
  if k > 0 then
    slot = max(slot, last)
    local j = k - LIMIT + cost
    if j > 0 then
      slot = max(slot, tonumber(redis.call('LINDEX', LOG, e + j - 1)) + WINDOW)
    end
  end
  local wait = slot - now
  if wait > max_wait then
    return not_committed(wait, max_wait, remaining(paused, k, last, now), reset(paused, last, now))
  end
  return commit(paused, e, k, cost, slot, now)
end

local function pause(now, ticks)
  local paused = max(tonumber(redis.call('GET', PAUSE) or '0'), now + ticks)
  local last = nil
  if redis.call('LLEN', LOG) > 0 then
    last = tonumber(redis.call('LINDEX', LOG, -1))
  end
  local ttl = reset(paused, last, now)
  if ttl > 0 or SLACK_MS > 0 then
    redis.call('SET', PAUSE, int(paused), 'PX', ttl_ms(ttl))
    if last then
      redis.call('PEXPIRE', LOG, ttl_ms(ttl))
    end
  end
  return 1
end
