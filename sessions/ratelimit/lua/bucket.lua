
-- Token bucket and leaky bucket (meter). KEYS[1]: 'paused_until level last' where level is the fill
-- (leaky) or the token deficit (token), a float draining at RATE per tick. ARGV[5] capacity, ARGV[6] rate
-- (cost units per tick, the exact double Python computed, passed with repr()).
local CAPACITY, RATE = tonumber(ARGV[5]), tonumber(ARGV[6])
local KEY = KEYS[1]

local function remaining(paused, level, last, now)
  if paused > now or last > now then
    return 0
  end
  local free = CAPACITY - max(0.0, level - (now - last) * RATE)
  return max(0, math.floor(free + 1e-9)) -- 1e-9 absorbs float dust such as 2.9999999999999996
end

local function reset(paused, level, last, now)
  local stop = 0
  if level > 0.0 then
    stop = last + math.ceil(level / RATE)
  end
  return max(stop, paused) - now
end

local function load()
  local paused, level, last = load3(KEY)
  if not paused then
    return 0, 0.0, 0
  end
  return paused, level, last
end

local function encode(paused, level, last)
  return int(paused) .. ' ' .. flt(level) .. ' ' .. int(last)
end

local function decide(now, cost, max_wait)
  local paused, level, last = load()
  if cost > CAPACITY then
    return reply(0, remaining(paused, level, last, now), -1, reset(paused, level, last, now), 0)
  end
  local slot = max(max(now, paused), last)
  local lvl = level - (slot - last) * RATE
  if lvl < 0.0 then
    lvl = 0.0
  end
  local excess = lvl + cost - CAPACITY
  if excess > 0.0 then
    local step = math.ceil(excess / RATE)
    slot = slot + step
    lvl = max(0.0, lvl - step * RATE)
  end
  local wait = slot - now
  if wait > max_wait then
    return not_committed(wait, max_wait, remaining(paused, level, last, now), reset(paused, level, last, now))
  end
  local new_level = lvl + cost
  local ttl = reset(paused, new_level, slot, now)
  save(KEY, encode(paused, new_level, slot), ttl)
  return reply(1, remaining(paused, new_level, slot, now), 0, ttl, wait)
end

local function pause(now, ticks)
  local paused, level, last = load()
  paused = max(paused, now + ticks)
  save(KEY, encode(paused, level, last), reset(paused, level, last, now))
  return 1
end
