/**
 * The replay rule of `model/replay-window.ts` as one Redis Lua script, so check and advance are
 * atomic per device across every instance. Lua numbers are doubles, so the 1024-bit `seen` bitmap
 * is kept as 64 limbs of 16 bits (every intermediate value stays far below 2^53) and stored as the
 * same hex text the device row holds (`bigint.toString(16)`).
 *
 * KEYS[1]: the device's hash {h = highest accepted nonce or '' (not armed), s = seen, hex}.
 * ARGV: nonce, window size (0 = strict), counter-reset threshold, floor high ('' = not armed),
 * floor seen (hex), fresh ('1': the floor replaces the stored state).
 * Reply: {1, high, seen, gap} when accepted (and stored), {0, reason, high or ''} when refused.
 */
export const REPLAY_LUA = `
local LIMBS = 64
local BASE = 65536

local function zero()
  local t = {}
  for i = 1, LIMBS do t[i] = 0 end
  return t
end

local function all_seen()
  local t = {}
  for i = 1, LIMBS do t[i] = BASE - 1 end
  return t
end

local function parse(hex)
  local t = zero()
  local n = #hex
  local i = 1
  while n > 0 and i <= LIMBS do
    local from = math.max(1, n - 3)
    t[i] = tonumber(string.sub(hex, from, n), 16)
    n = from - 1
    i = i + 1
  end
  return t
end

local function format(t)
  local parts = {}
  for i = LIMBS, 1, -1 do
    if #parts > 0 then
      parts[#parts + 1] = string.format('%04x', t[i])
    elseif t[i] ~= 0 then
      parts[1] = string.format('%x', t[i])
    end
  end
  if #parts == 0 then return '0' end
  return table.concat(parts)
end

-- bit k (0-based) moves to k + s; bits beyond 1024 fall off
local function shl(t, s)
  local out = zero()
  if s >= LIMBS * 16 then return out end
  local q = math.floor(s / 16)
  local mul = 2 ^ (s % 16)
  for i = 1, LIMBS - q do
    local v = t[i] * mul
    local j = i + q
    -- the low part and the carry occupy disjoint bits of their limbs: addition is OR
    out[j] = out[j] + v % BASE
    if j < LIMBS then out[j + 1] = out[j + 1] + math.floor(v / BASE) end
  end
  return out
end

local function testbit(t, k)
  local limb = math.floor(k / 16) + 1
  return math.floor(t[limb] / 2 ^ (k % 16)) % 2 == 1
end

local function setbit(t, k)
  if not testbit(t, k) then
    local limb = math.floor(k / 16) + 1
    t[limb] = t[limb] + 2 ^ (k % 16)
  end
end

local function keep_low(t, bits)
  for i = 1, LIMBS do
    local lo = (i - 1) * 16
    if lo >= bits then
      t[i] = 0
    elseif lo + 16 > bits then
      t[i] = t[i] % 2 ^ (bits - lo)
    end
  end
end

local function union(a, b)
  local out = zero()
  for i = 1, LIMBS do out[i] = bit.bor(a[i], b[i]) end
  return out
end

-- the union of two states: every nonce either one counts as used stays used
local function merge(h1, s1, h2, s2)
  if h1 == nil then return h2, s2 end
  if h2 == nil then return h1, s1 end
  if h2 > h1 then h1, s1, h2, s2 = h2, s2, h1, s1 end
  local d = h1 - h2
  if d == 0 then return h1, union(s1, s2) end
  if d > LIMBS * 16 then return h1, s1 end
  local lower = shl(s2, d)
  setbit(lower, d - 1)
  return h1, union(s1, lower)
end

local nonce = tonumber(ARGV[1])
local size = tonumber(ARGV[2])
local threshold = tonumber(ARGV[3])
local floor_high = tonumber(ARGV[4])
local floor_seen = parse(ARGV[5])

local high, seen
local stored = redis.call('HMGET', KEYS[1], 'h', 's')
if ARGV[6] == '1' or stored[2] == false then
  high, seen = floor_high, floor_seen
else
  high, seen = merge(tonumber(stored[1]), parse(stored[2]), floor_high, floor_seen)
end

local gap
if high == nil then
  high, seen, gap = nonce, all_seen(), 0
elseif nonce > high then
  local shift = nonce - high
  local next_seen = zero()
  if size > 0 and shift < size then
    next_seen = shl(seen, shift)
    setbit(next_seen, shift - 1)
    keep_low(next_seen, size)
  end
  high, seen, gap = nonce, next_seen, shift - 1
else
  local behind = high - nonce
  local refused
  if behind >= threshold then
    refused = 'counter_reset_suspected'
  elseif behind == 0 then
    refused = 'duplicate'
  elseif size == 0 or behind >= size then
    refused = 'too_old'
  elseif testbit(seen, behind - 1) then
    refused = 'duplicate'
  end
  if refused then return {0, refused, string.format('%.0f', high)} end
  setbit(seen, behind - 1)
  gap = -1
end

local text = format(seen)
redis.call('HSET', KEYS[1], 'h', string.format('%.0f', high), 's', text)
return {1, string.format('%.0f', high), text, gap}
`;
