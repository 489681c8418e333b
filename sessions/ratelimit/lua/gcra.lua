
-- GCRA. KEYS[1]: 'paused_until tat'. ARGV[5] emission interval T (ticks), ARGV[6] burst (= capacity).
local INTERVAL, BURST = tonumber(ARGV[5]), tonumber(ARGV[6])
local TOLERANCE = BURST * INTERVAL
local KEY = KEYS[1]

local function remaining(paused, tat, now)
  if paused > now then
    return 0
  end
  return max(0, math.floor((TOLERANCE - max(0, tat - now)) / INTERVAL))
end

local function load()
  local paused, tat = load3(KEY)
  if not paused then
    return 0, 0
  end
  return paused, tat
end

local function decide(now, cost, max_wait)
  local paused, tat = load()
  if cost > BURST then
    return reply(0, remaining(paused, tat, now), -1, max(tat, paused) - now, 0)
  end
  local inc = math.ceil(cost * INTERVAL) -- exact for integral costs, rounded up for fractional ones
  local slot = max(max(now, paused), tat + inc - TOLERANCE)
  local wait = slot - now
  if wait > max_wait then
    return not_committed(wait, max_wait, remaining(paused, tat, now), max(tat, paused) - now)
  end
  local new_tat = max(tat, slot) + inc
  local ttl = max(new_tat, paused) - now
  save(KEY, int(paused) .. ' ' .. int(new_tat), ttl)
  return reply(1, remaining(paused, new_tat, now), 0, ttl, wait)
end

local function pause(now, ticks)
  local paused, tat = load()
  paused = max(paused, now + ticks)
  save(KEY, int(paused) .. ' ' .. int(tat), max(tat, paused) - now)
  return 1
end
