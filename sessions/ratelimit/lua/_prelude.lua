-- sessions rate limiting on Redis: shared prelude, concatenated before one algorithm file and _main.lua
-- by sessions/ratelimit/_redis.py. Each script mirrors sessions/ratelimit/_algorithms.py line for line,
-- in integer microsecond ticks.
--
-- ARGV[1] now in ticks ('' = use the server's TIME)   ARGV[2] op: 'd' decide, 'p' pause
-- ARGV[3] cost (decide) or pause length in ticks        ARGV[4] max_wait in ticks (-1 = peek)
-- ARGV[5..] the algorithm's compiled parameters
-- Reply (decide): one string 'allowed remaining retry_after reset_after delay' (ticks; allowed 0/1;
-- retry_after -1 = never): a single bulk string parses faster client-side than a five-element array, and
-- numbers leave Lua only as formatted strings.
--
-- Lua numbers are doubles: time counts from EPOCH_S so values stay far below 2^53, and numbers are
-- formatted with %d / %.17g before they reach redis.call (which would print them with %.14g).

local EPOCH_S = 1700000000

local function now_ticks()
  if ARGV[1] ~= '' then
    return tonumber(ARGV[1])
  end
  local t = redis.call('TIME')
  return (tonumber(t[1]) - EPOCH_S) * 1000000 + tonumber(t[2])
end

local function int(x)
  return string.format('%d', x)
end

local function flt(x)
  return string.format('%.17g', x)
end

local function max(a, b)
  if a > b then
    return a
  end
  return b
end

-- With the client's clock (ARGV[1] given) a decision can reach Redis well after its clock was read (a
-- descheduled thread, a host whose clock runs a little behind). Keys then outlive their state by
-- SLACK_MS, so such a late decision still finds the state its reading belongs to rather than an
-- expired, empty key that would admit it on top of requests it never saw. With the server's TIME every
-- decision reads the clock inside the script, so no slack is needed.
local SLACK_MS = 0
if ARGV[1] ~= '' then
  SLACK_MS = 1000
end

-- TTL in ms, rounded up plus 1 ms: Redis stamps a key's expiry from its clock truncated to the
-- millisecond, so without the extra ms a key could vanish up to 1 ms before its state stops mattering.
-- A key may outlive its state by < 2 ms (+ SLACK_MS; harmless: it is then equivalent to empty), never
-- the reverse.
local function ttl_ms(ticks)
  return int(math.ceil(max(ticks, 0) / 1000) + 1 + SLACK_MS)
end

-- Write a scalar state with its TTL; a state whose TTL is over is the empty state (kept for the slack
-- with the client's clock: a late decision may still need it).
local function save(key, value, ttl)
  if ttl > 0 or SLACK_MS > 0 then
    redis.call('SET', key, value, 'PX', ttl_ms(ttl))
  else
    redis.call('DEL', key)
  end
end

-- Load 'a b c' (or 'a b') as numbers; nil when the key does not exist.
local function load3(key)
  local s = redis.call('GET', key)
  if not s then
    return nil
  end
  local a, b, c = string.match(s, '^(%S+) (%S+) ?(%S*)$')
  return tonumber(a), tonumber(b), tonumber(c)
end

local function reply(allowed, remaining, retry, reset, delay)
  return string.format('%d %d %d %d %d', allowed, remaining, retry, reset, delay)
end

-- The reply for a request that was not committed (try denied, peek, or reserve beyond max_wait).
local function not_committed(wait, max_wait, remaining, reset)
  if max_wait < 0 and wait == 0 then -- peek: a try would succeed now
    return reply(1, remaining, 0, reset, 0)
  end
  return reply(0, remaining, wait, reset, 0)
end
