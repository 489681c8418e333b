
-- Fixed window. KEYS[1]: 'paused_until window_start count'; windows aligned to multiples of WINDOW ticks.
-- ARGV[5] limit, ARGV[6] window (ticks).
local LIMIT, WINDOW = tonumber(ARGV[5]), tonumber(ARGV[6])
local KEY = KEYS[1]

local function align(t) -- fmod is exact, unlike a - floor(a / b) * b
  return t - math.fmod(t, WINDOW)
end

local function remaining(paused, start, count, now)
  if paused > now then
    return 0
  end
  local current = align(now)
  if start > current and count ~= 0 then
    return 0 -- a future window is being filled: a try now would queue behind it
  end
  if start == current then
    return LIMIT - count
  end
  return LIMIT
end

local function reset(paused, start, count, now)
  local stop = 0
  if count ~= 0 then
    stop = start + WINDOW
  end
  return max(stop, paused) - now
end

local function load()
  local paused, start, count = load3(KEY)
  if not paused then
    return 0, 0, 0
  end
  return paused, start, count
end

local function decide(now, cost, max_wait)
  local paused, start, count = load()
  if cost > LIMIT then
    return reply(0, remaining(paused, start, count, now), -1, reset(paused, start, count, now), 0)
  end
  local first = max(now, paused)
  local current = align(first)
  local slot, new_start, new_count
  if count ~= 0 and start >= current then -- the stored window is the current or a reserved future one
    if count + cost <= LIMIT then
      slot, new_start, new_count = max(first, start), start, count + cost
    else
      slot, new_start, new_count = start + WINDOW, start + WINDOW, cost
    end
  else
    slot, new_start, new_count = first, current, cost
  end
  local wait = slot - now
  if wait > max_wait then
    return not_committed(wait, max_wait, remaining(paused, start, count, now), reset(paused, start, count, now))
  end
  local ttl = reset(paused, new_start, new_count, now)
  save(KEY, int(paused) .. ' ' .. int(new_start) .. ' ' .. int(new_count), ttl)
  return reply(1, remaining(paused, new_start, new_count, now), 0, ttl, wait)
end

local function pause(now, ticks)
  local paused, start, count = load()
  paused = max(paused, now + ticks)
  save(KEY, int(paused) .. ' ' .. int(start) .. ' ' .. int(count), reset(paused, start, count, now))
  return 1
end
