"""The Lua scripts ``RedisLimiter`` runs: every decision is one atomic script on the Redis server.

All keys of one account carry one hash tag (``{prefix}:{<digest>}:...``), so the scripts run on
Redis Cluster too. Times are microseconds of the Redis server's clock (``TIME``), so callers
with skewed clocks agree; replies give durations from that clock's now, never instants.

Numbers go back to Redis through ``string.format``: Lua's default number-to-string conversion
keeps 14 significant digits, which would round microsecond timestamps.
"""

from __future__ import annotations

__all__ = ["DECIDE", "SHARE_BUDGET", "SHARE_QUOTA"]

# Shared by the scripts: the clock, and how long the state hash should live (one window plus a
# second, or key_ttl, plus the longest pause still running).
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function us(x) return string.format('%.0f', x) end
local function keep_state(key, ttl)
  local p = redis.call('HMGET', key, 'g_paused_us', 'b_paused_us')
  local longest = math.max(tonumber(p[1]) or 0, tonumber(p[2]) or 0)
  if longest > now then ttl = ttl + math.ceil((longest - now) / 1000) end
  if redis.call('EXISTS', key) == 1 then redis.call('PEXPIRE', key, string.format('%d', ttl)) end
end
"""

# KEYS: [1] general log, [2] bulk log (sorted sets: score = grant time in µs, member unique),
#       [3] state (hash: g_/b_paused_us, g_/b_calls, g_/b_period_us, bulk_due_us),
#       [4] quota (hash: total, oldest, limit, exhausted_us, probe_at_us, probe_gap_us, and one
#           field per counted bucket: its index -> calls).
# ARGV: [1] take a general grant, [2] a bulk grant, [3] count against the quota (each 0/1),
#       [4] general calls, [5] general period_us, [6] bulk calls (0: none), [7] bulk period_us,
#       [8] margin, [9] member suffix, [10] ttl_ms (0: window + 1 s), [11] burst,
#       [12] quota limit (0: unknown), [13] reserve, [14] quota window_us, [15] interactive
#       (0: bulk rows may ride, stop at limit × (1 − reserve)), [16] probe (0/1),
#       [17] first probe gap_us, [18] longest probe gap_us.
# Returns {status (0 granted, 1 wait, 2 quota refused), wait_us, general calls, period_us,
#          bulk calls (0: none), period_us, general free in µs, bulk free in µs (-1: unknown),
#          quota used (-1: not counted), quota limit (-1: unknown), exhausted for µs (-1: no,
#          -2: reset unknown), next probe in µs, used frees up in µs (-1: unknown)}.
DECIDE = (
    _PRELUDE
    + """
local use_g, use_b, use_q = ARGV[1] == '1', ARGV[2] == '1', ARGV[3] == '1'
local margin = tonumber(ARGV[8])
local ttl_arg = tonumber(ARGV[10])
local burst = tonumber(ARGV[11])
local s = redis.call('HMGET', KEYS[3], 'g_paused_us', 'g_calls', 'g_period_us',
  'b_paused_us', 'b_calls', 'b_period_us', 'bulk_due_us')

-- The limit in force: the configured one or the one any process adopted, whichever is lower.
local function in_force(calls, period, shared_calls, shared_period)
  calls, period = tonumber(calls), tonumber(period)
  shared_calls, shared_period = tonumber(shared_calls), tonumber(shared_period)
  if shared_calls and shared_period
    and (calls == 0 or shared_period * calls > period * shared_calls) then
    return shared_calls, shared_period
  end
  return calls, period
end
local g_calls, g_period = in_force(ARGV[4], ARGV[5], s[2], s[3])
local b_calls, b_period = in_force(ARGV[6], ARGV[7], s[5], s[6])
local g_window = math.floor(g_period * (1 + margin))
local b_window = math.floor(b_period * (1 + margin))

-- µs until a budget can grant: its pause, at most calls in any window, burst in burst × interval.
local function free_in(key, calls, period, window, paused)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - window))
  local wait = 0
  if paused > now then wait = paused - now end
  local count = redis.call('ZCARD', key)
  if count >= calls then
    local entry = redis.call('ZRANGE', key, count - calls, count - calls, 'WITHSCORES')
    wait = math.max(wait, tonumber(entry[2]) + window - now)
  end
  if burst < calls and count >= burst then
    local entry = redis.call('ZRANGE', key, count - burst, count - burst, 'WITHSCORES')
    wait = math.max(wait, tonumber(entry[2]) + math.floor(period * burst / calls) - now)
  end
  return wait
end

local g_wait, b_wait = -1, -1
if use_g then g_wait = free_in(KEYS[1], g_calls, g_period, g_window, tonumber(s[1]) or 0) end
if b_calls > 0 then b_wait = free_in(KEYS[2], b_calls, b_period, b_window, tonumber(s[4]) or 0) end
local wait = math.max(g_wait, 0)
local bulk = use_b and b_calls > 0
if bulk then wait = math.max(wait, b_wait) end

-- A bulk call due within one general interval has first claim on the general budget.
local g_interval = g_period / g_calls
local due = tonumber(s[7])
if due and due - now < -g_interval then due = nil end
if use_g and not use_b and due then
  local due_in = due - now
  if due_in < 0 then
    wait = math.max(wait, g_interval / 10)
  elseif due_in <= wait + g_interval then
    wait = math.max(wait, due_in) + g_interval / 100
  end
end

-- The daily quota: calls in the rolling window, in 1440 buckets, aged lazily.
local status = 0
local q_used, q_limit, q_exhausted, q_probe, q_reset = -1, -1, -1, 0, -1
local probe = false
local bucket, current, q_oldest
if use_q then
  local window = tonumber(ARGV[14])
  bucket = math.floor(window / 1440)
  current = math.floor(now / bucket)
  local q = redis.call('HMGET', KEYS[4], 'total', 'oldest', 'limit', 'exhausted_us', 'probe_at_us')
  local total = tonumber(q[1]) or 0
  local oldest = tonumber(q[2])
  local horizon = now - window
  if oldest and (oldest + 1441) * bucket <= horizon then
    for _, field in ipairs(redis.call('HKEYS', KEYS[4])) do
      if tonumber(field) then redis.call('HDEL', KEYS[4], field) end
    end
    total, oldest = 0, nil
  end
  while oldest and oldest <= current do
    local field = string.format('%d', oldest)
    local n = tonumber(redis.call('HGET', KEYS[4], field))
    if n and (oldest + 1) * bucket > horizon then break end
    if n then
      total = total - n
      redis.call('HDEL', KEYS[4], field)
    end
    oldest = oldest + 1
  end
  if total <= 0 or (oldest and oldest > current) then total, oldest = 0, nil end
  if tonumber(q[1]) and (tonumber(q[1]) ~= total or tonumber(q[2]) ~= oldest) then
    redis.call('HSET', KEYS[4], 'total', string.format('%d', total))
    if oldest then
      redis.call('HSET', KEYS[4], 'oldest', string.format('%d', oldest))
    else
      redis.call('HDEL', KEYS[4], 'oldest')
    end
  end
  q_oldest = oldest
  local limit = tonumber(q[3]) or tonumber(ARGV[12])
  if limit == 0 then limit = nil end
  local exhausted = tonumber(q[4])
  if exhausted and exhausted >= 0 and exhausted <= now then
    redis.call('HDEL', KEYS[4], 'exhausted_us', 'probe_at_us', 'probe_gap_us')
    exhausted = nil
  end
  if exhausted then
    local probe_at = tonumber(q[5]) or 0
    if ARGV[16] == '1' and now >= probe_at then probe = true else status = 2 end
    q_exhausted = -2
    if exhausted >= 0 then q_exhausted = exhausted - now end
    q_probe = math.max(0, probe_at - now)
  elseif limit and total >= limit then
    status = 2
  elseif limit and ARGV[15] ~= '1' and total >= limit * (1 - tonumber(ARGV[13])) then
    status = 2
  end
  if limit then q_limit = limit end
  if limit and oldest and total >= limit then q_reset = (oldest + 1) * bucket + window - now end
  q_used = total
end

local state_ttl = ttl_arg
if state_ttl <= 0 then state_ttl = math.ceil(math.max(g_window, b_window) / 1000) + 1000 end
if status == 0 and wait > 0 then
  status = 1
  if use_g and bulk then
    local mine = now + wait
    if not due or mine < due then redis.call('HSET', KEYS[3], 'bulk_due_us', us(mine)) end
  end
end
if status ~= 0 then
  keep_state(KEYS[3], state_ttl)
  return {status, math.ceil(wait), g_calls, g_period, b_calls, b_period, g_wait, b_wait,
    q_used, q_limit, q_exhausted, q_probe, q_reset}
end

-- Granted: every budget the call needs takes its entry at this one instant.
local member = us(now) .. ARGV[9]
local function take(key, window)
  redis.call('ZADD', key, us(now), member)
  local ttl = ttl_arg
  if ttl <= 0 then ttl = math.ceil(window / 1000) + 1000 end
  redis.call('PEXPIRE', key, string.format('%d', ttl))
end
if use_g then
  take(KEYS[1], g_window)
  g_wait = free_in(KEYS[1], g_calls, g_period, g_window, tonumber(s[1]) or 0)
end
if bulk then
  take(KEYS[2], b_window)
  b_wait = free_in(KEYS[2], b_calls, b_period, b_window, tonumber(s[4]) or 0)
  if use_g then redis.call('HDEL', KEYS[3], 'bulk_due_us') end
end
if use_q then
  local field = string.format('%d', current)
  redis.call('HINCRBY', KEYS[4], field, 1)
  q_used = redis.call('HINCRBY', KEYS[4], 'total', 1)
  redis.call('HSETNX', KEYS[4], 'oldest', field)
  if q_limit >= 0 and q_used >= q_limit then
    q_reset = ((q_oldest or current) + 1) * bucket + tonumber(ARGV[14]) - now
  end
  if probe then
    local gap = tonumber(redis.call('HGET', KEYS[4], 'probe_gap_us')) or tonumber(ARGV[17])
    redis.call('HSET', KEYS[4], 'probe_at_us', us(now + gap),
      'probe_gap_us', us(math.min(tonumber(ARGV[18]), gap * 2)))
    q_probe = gap
  end
  local ttl = math.ceil((tonumber(ARGV[14]) + bucket) / 1000) + 1000
  if redis.call('PTTL', KEYS[4]) < ttl then
    redis.call('PEXPIRE', KEYS[4], string.format('%d', ttl))
  end
end
keep_state(KEYS[3], state_ttl)
return {0, 0, g_calls, g_period, b_calls, b_period, g_wait, b_wait,
  q_used, q_limit, q_exhausted, q_probe, q_reset}
"""
)

# KEYS[1] the state. ARGV: [1] budget ('g' or 'b'), [2] pause_us (0: none), [3] calls (0: none),
# [4] period_us, [5] ttl_ms. A pause only ever extends; an announced limit is kept only if it
# is lower (a longer interval) than the one shared, or the budget had none (a learned bulk one).
SHARE_BUDGET = (
    _PRELUDE
    + """
local b = ARGV[1]
local pause = tonumber(ARGV[2])
local calls = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local paused = tonumber(redis.call('HGET', KEYS[1], b .. '_paused_us')) or 0
if pause > 0 and now + pause > paused then
  redis.call('HSET', KEYS[1], b .. '_paused_us', us(now + pause))
end
if calls > 0 then
  local state = redis.call('HMGET', KEYS[1], b .. '_calls', b .. '_period_us')
  local old_calls = tonumber(state[1])
  local old_period = tonumber(state[2])
  if not old_calls or not old_period or period * old_calls > old_period * calls then
    redis.call('HSET', KEYS[1], b .. '_calls', string.format('%d', calls),
      b .. '_period_us', us(period))
  end
end
keep_state(KEYS[1], tonumber(ARGV[5]))
return 0
"""
)

# KEYS[1] the quota. ARGV: [1] 'exhaust' or 'recover' (or '' for the limit alone), [2] reset_us
# (-1: unknown), [3] the quota's limit (0: keep), [4] first probe gap_us, [5] longest probe
# gap_us, [6] ttl_ms (one quota window and a bucket). Exhaustion only ever extends; a probe time
# already ahead is kept, as ``Quota.exhaust`` does.
SHARE_QUOTA = (
    _PRELUDE
    + """
local reset = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 then redis.call('HSET', KEYS[1], 'limit', string.format('%d', limit)) end
if ARGV[1] == 'exhaust' then
  local q = redis.call('HMGET', KEYS[1], 'exhausted_us', 'probe_at_us', 'probe_gap_us')
  local old = tonumber(q[1])
  local until_us = -1
  if reset >= 0 then until_us = now + reset end
  if old and (old < 0 or (until_us >= 0 and old > until_us)) then until_us = old end
  redis.call('HSET', KEYS[1], 'exhausted_us', us(until_us))
  local gap = tonumber(q[3]) or tonumber(ARGV[4])
  if (tonumber(q[2]) or 0) <= now then
    redis.call('HSET', KEYS[1], 'probe_at_us', us(now + gap),
      'probe_gap_us', us(math.min(tonumber(ARGV[5]), gap * 2)))
  end
  if until_us > now then reset = until_us - now end
elseif ARGV[1] == 'recover' then
  redis.call('HDEL', KEYS[1], 'exhausted_us', 'probe_at_us', 'probe_gap_us')
end
local ttl = tonumber(ARGV[6])
if reset > 0 then ttl = math.max(ttl, math.ceil(reset / 1000) + 1000) end
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], string.format('%d', ttl))
end
return 0
"""
)
