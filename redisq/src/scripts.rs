//! The Lua scripts: every change of more than one step is one script, sent with `EVAL`, so
//! that no other client sees it half done.

/// Adds as many items as fit under the capacity; returns how many it added.
/// KEYS: stream. ARGV: capacity, producer, pid, payload, seq...
pub(crate) const PUT: &str = r"
local room = tonumber(ARGV[1]) - redis.call('XLEN', KEYS[1])
local n = 0
for i = 5, #ARGV do
  if n >= room then break end
  redis.call('XADD', KEYS[1], '*', 'producer', ARGV[2], 'pid', ARGV[3], 'seq', ARGV[i], 'payload', ARGV[4])
  n = n + 1
end
return n
";

/// Acknowledges and deletes the entries still pending; counts them eaten.
/// KEYS: stream, totals. ARGV: group, consumer, id...
pub(crate) const ACK: &str = r"
local n = 0
for i = 3, #ARGV do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    redis.call('XDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
if n > 0 then
  redis.call('HINCRBY', KEYS[2], 'eaten', n)
  redis.call('HINCRBY', KEYS[2], 'eaten:' .. ARGV[2], n)
end
return n
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
if #dead + lost > 0 then redis.call('HINCRBY', KEYS[2], 'dead', #dead + lost) end
return {r[1], out, dead, lost}
";
