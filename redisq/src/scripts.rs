//! The Lua scripts: every change of more than one step is one script, sent with `EVAL`, so
//! that no other client sees it half done.

/// Adds as many items as fit under the capacity, all in one step; returns how many of the
/// sequence numbers given it took (added, or put already), or -1 where the run already has
/// all its producers (this one came late). The capacity counts entries not yet settled
/// (`left` in the totals: waiting or pending), not the stream's length, which also holds
/// acknowledged entries until their node is trimmed. Each entry has one field, `baozi`:
/// `SEQ PID PRODUCER\nPAYLOAD` (one field costs the server less on every XADD and
/// XREADGROUP than four). `put:PRODUCER` in the totals is the next sequence number it has
/// to put: one below was put already (a batch sent again after its reply was lost with the
/// server), and is skipped, so nothing is put twice; a batch that starts above it (sent
/// ahead behind one that did not all fit) takes nothing, so none is put out of order. A stream or totals this put creates
/// gets the run's idle expiry at once (a producer killed right after still leaves none
/// for ever).
/// KEYS: stream, totals, ends, producers. ARGV: capacity, producer, pid, payload, keep ms,
/// seq... (consecutive: the skipped ones first, counted, not compared one by one).
pub(crate) const PUT: &str = r"
local want = tonumber(redis.call('GET', KEYS[4]) or 0)
if want > 0 and redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0
   and redis.call('HLEN', KEYS[3]) >= want then
  return -1
end
local room = tonumber(ARGV[1]) - tonumber(redis.call('HGET', KEYS[2], 'left') or 0)
local from = tonumber(redis.call('HGET', KEYS[2], 'put:' .. ARGV[2]) or 0)
if tonumber(ARGV[6]) > from then return 0 end
local rest = ' ' .. ARGV[3] .. ' ' .. ARGV[2] .. '\n' .. ARGV[4]
local given = #ARGV - 5
local skip = math.min(math.max(from - tonumber(ARGV[6]), 0), given)
local n = math.max(math.min(given - skip, room), 0)
local call, stream = redis.call, KEYS[1]
for i = 6 + skip, 5 + skip + n do
  call('XADD', stream, '*', 'baozi', ARGV[i] .. rest)
end
local took = skip + n
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'left', n)
  redis.call('HSET', KEYS[2], 'put:' .. ARGV[2], tonumber(ARGV[5 + took]) + 1)
  for k = 1, 2 do
    if redis.call('PTTL', KEYS[k]) == -1 then redis.call('PEXPIRE', KEYS[k], ARGV[5]) end
  end
end
return took
";

/// Pushes the expiry of the run's keys to ARGV[1] ms from now, never nearer (a finished
/// run's shorter expiry is set by `EXPIRE` itself). KEYS: the run's keys. ARGV: ms.
pub(crate) const TOUCH: &str = r"
local ms = tonumber(ARGV[1])
for _, k in ipairs(KEYS) do
  local t = redis.call('PTTL', k)
  if t == -1 or (t >= 0 and t < ms) then redis.call('PEXPIRE', k, ms) end
end
return 0
";

/// A producer's hold on its name: renewed while it is ours, taken again where it lapsed;
/// 0 where another producer holds it. KEYS: `Q:live:NAME`. ARGV: token, ms.
pub(crate) const LIVE: &str = r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// A producer's end: it put ARGV[2] items; its name is free again (it is in `Q:ends` now,
/// which refuses it anyway). KEYS: ends, `Q:live:NAME`. ARGV: name, count, token.
pub(crate) const END: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 0
";

/// The entries this consumer holds, with their fields, after it reconnected: a delivery
/// whose reply was lost with the server is pending for it, never seen. Their delivery
/// counts stay (RETRYCOUNT), their idle time restarts.
/// KEYS: stream. ARGV: group, consumer, count. Returns {{id, deliveries, fields}...}.
pub(crate) const MINE: &str = r"
local out = {}
for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[3], ARGV[2])) do
  local r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, p[1], 'RETRYCOUNT', p[4])
  if r[1] and r[1][2] then table.insert(out, {p[1], p[4], r[1][2]}) end
end
return out
";

/// Acknowledges the entries still pending, all in one XACK; counts them eaten (and no
/// longer left); then trims the stream below its oldest pending entry. Nothing is deleted
/// by id (XDEL costs the server 3.5 to 9 us an id, XACK 0.3): the stream's nodes that hold
/// only settled entries go, whole, in the XTRIM. Below the oldest pending id every entry
/// was delivered (delivery follows id order) and is not pending, so it is acknowledged or
/// dead; with none pending, the same holds below the last id acknowledged here.
/// KEYS: stream, totals. ARGV: group, consumer, id...
pub(crate) const ACK: &str = r"
local n = redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 3))
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'eaten', n)
  redis.call('HINCRBY', KEYS[2], 'eaten:' .. ARGV[2], n)
  redis.call('HINCRBY', KEYS[2], 'left', -n)
  local p = redis.call('XPENDING', KEYS[1], ARGV[1])
  redis.call('XTRIM', KEYS[1], 'MINID', '~', p[2] or ARGV[#ARGV])
end
return n
";

/// At the run's end: when nothing is left (every entry put is acknowledged or dead), the
/// acknowledged entries the trims left behind go too. KEYS: stream, totals.
pub(crate) const TIDY: &str = r"
if tonumber(redis.call('HGET', KEYS[2], 'left') or 0) == 0 then
  return redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
end
return 0
";

/// Resets the idle time of the entries this consumer still holds (not of those another
/// consumer claimed meanwhile). KEYS: stream. ARGV: group, consumer, id...
pub(crate) const RENEW: &str = r"
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return 0
";

/// Gives back entries this consumer holds and did not eat (it is leaving: Ctrl-C), for
/// the next consumer to claim at once: idle since the epoch, their delivery count one
/// lower, so that the claim (which adds one) does not count a delivery that was not eaten.
/// KEYS: stream. ARGV: group, consumer, id...
pub(crate) const GIVE_BACK: &str = r"
local n = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'TIME', 0, 'RETRYCOUNT', p[1][4] - 1, 'JUSTID')
    n = n + 1
  end
end
return n
";

/// Claims entries idle past the lease: redeliveries, or dead letters past the limit.
/// KEYS: stream, totals, dead. ARGV: group, consumer, lease ms, count, max deliveries, cursor.
/// Returns {cursor, {{id, deliveries, fields}...}, {{id, deliveries, fields}...}, lost}.
/// Only entries delivered before count as redelivered (one given back uneaten is not).
pub(crate) const RECLAIM: &str = r"
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[6], 'COUNT', ARGV[4])
local out, dead, lost, again = {}, {}, 0, 0
for _, e in ipairs(r[2]) do
  local id, f = e[1], e[2]
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)
  local n = p[1] and p[1][4] or 1
  if not f then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    lost = lost + 1
  elseif n > tonumber(ARGV[5]) then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    redis.call('XDEL', KEYS[1], id)
    redis.call('XADD', KEYS[3], '*', 'id', id, 'deliveries', n - 1, unpack(f))
    table.insert(dead, {id, n - 1, f})
  else
    table.insert(out, {id, n, f})
    if n > 1 then again = again + 1 end
  end
end
if r[3] then lost = lost + #r[3] end
if again > 0 then redis.call('HINCRBY', KEYS[2], 'redelivered', again) end
if #dead + lost > 0 then
  redis.call('HINCRBY', KEYS[2], 'dead', #dead + lost)
  redis.call('HINCRBY', KEYS[2], 'left', -(#dead + lost))
end
return {r[1], out, dead, lost}
";
