
-- Entry point (appended after the algorithm, which defines decide() and pause()).
local now = now_ticks()
if ARGV[2] == 'p' then
  return pause(now, tonumber(ARGV[3]))
end
return decide(now, tonumber(ARGV[3]), tonumber(ARGV[4]))
