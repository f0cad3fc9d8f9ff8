//! The queue on Redis Streams: what `redis://HOST:PORT/QUEUE` means to a producer and a
//! consumer, and the only place that knows it.
//!
//! For a queue named `Q` the keys are:
//!
//! | key           | what it holds                                                        |
//! |---------------|----------------------------------------------------------------------|
//! | `Q`           | a stream: one entry per baozi not yet eaten (`producer`, `pid`, `seq`, `payload`) |
//! | group `baozi` | the consumer group on `Q`: who holds which entry, and since when     |
//! | `Q:producers` | how many producers the run expects (set by the first consumer, `--producers`) |
//! | `Q:ends`      | a hash: producer name -> how many items it put, written at its end   |
//! | `Q:totals`    | a hash: `eaten`, `eaten:NAME` per consumer, `redelivered`, `dead`    |
//! | `Q:dead`      | a stream: the dead letters, each with its `id` and `deliveries`      |
//!
//! put = XADD, only while the stream holds fewer than `--capacity` entries (checked and
//! added in one script, so nothing is trimmed away unread); take = XREADGROUP in the group
//! `baozi`, blocking; eaten = XACK and XDEL (with the totals, in one script, counting only
//! entries still pending, so a duplicate is never counted twice). A consumer renews what it
//! holds while it eats (XCLAIM JUSTID, its own entries only); entries idle longer than
//! `--lease` belong to a consumer that died, and the next live consumer claims them
//! (XAUTOCLAIM) as redeliveries, or, past `--max-deliveries`, moves them to `Q:dead`.
//! The run is over when `Q:producers` producers have ended, the stream is empty (every
//! entry acknowledged or dead) and eaten + dead reach the counts in `Q:ends`. Its keys (not `Q:dead`) then expire after [`KEEP_AFTER_END`].

use crate::Error;
use crate::addr::Address;
use crate::units::{Backoff, count, show_duration};
use redis::{Connection, ConnectionAddr, Value};
use std::fmt;
use std::time::{Duration, Instant};

/// The consumer group every consumer of a queue joins.
pub const GROUP: &str = "baozi";

/// How long a reply may take beyond what was asked of the server (a blocking read's own
/// wait), and how long connecting may take: past it, the server is taken for gone.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a finished run's keys stay, so that every consumer sees the end.
pub const KEEP_AFTER_END: Duration = Duration::from_secs(60);

/// At most this many payload bytes go in one put.
const PUT_BYTES: usize = 4 << 20;

/// Adds as many items as fit under the capacity; returns how many it added.
/// KEYS: stream. ARGV: capacity, producer, pid, payload, seq...
const PUT: &str = r"
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
const ACK: &str = r"
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
const RENEW: &str = r"
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return 0
";

/// Claims entries idle past the lease: redeliveries, or dead letters past the limit.
/// KEYS: stream, totals, dead. ARGV: group, consumer, lease ms, count, max deliveries, cursor.
/// Returns {cursor, {{id, deliveries, fields}...}, {{id, deliveries, fields}...}, lost}.
const RECLAIM: &str = r"
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[6], 'COUNT', ARGV[4])
local out, dead, lost = {}, {}, 0
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
  end
end
if r[3] then lost = lost + #r[3] end
if #out > 0 then redis.call('HINCRBY', KEYS[2], 'redelivered', #out) end
if #dead + lost > 0 then redis.call('HINCRBY', KEYS[2], 'dead', #dead + lost) end
return {r[1], out, dead, lost}
";

/// One connection to the server that keeps queue `Q`, with the names of its keys.
pub struct Queue {
    con: Connection,
    /// The address as typed, for messages.
    addr: Address,
    stream: String,
    producers: String,
    ends: String,
    totals: String,
    dead: String,
}

/// A failure, worded for the person who typed the address.
fn fail(addr: &Address, what: &str, e: &redis::RedisError) -> Error {
    if e.is_timeout() {
        format!(
            "the Redis server at {addr} did not answer within {} ({what})",
            show_duration(IO_TIMEOUT)
        )
        .into()
    } else if e.is_io_error() || e.is_connection_dropped() {
        format!("the Redis server at {addr} went away ({what}: {e})").into()
    } else {
        format!("the Redis server at {addr} refused {what}: {e}").into()
    }
}

impl Queue {
    /// Connects to the server of `addr` (a `redis://` address), retrying while nothing
    /// listens there yet, for up to `wait`; calls `on_wait` once if it has to wait. Makes
    /// sure the stream and its group exist.
    pub fn connect(addr: &Address, wait: Duration, on_wait: impl FnOnce()) -> Result<Queue, Error> {
        let Address::Redis { host, port, queue } = addr else {
            return Err(format!("{addr} is not a redis:// address").into());
        };
        let client = redis::Client::open(ConnectionAddr::Tcp(host.clone(), *port))
            .map_err(|e| format!("cannot use {addr}: {e}"))?;
        let deadline = Instant::now() + wait;
        let mut backoff = Backoff::default();
        let mut on_wait = Some(on_wait);
        let con = loop {
            match client.get_connection_with_timeout(IO_TIMEOUT) {
                Ok(con) => break con,
                Err(e) if e.is_connection_refusal() => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!(
                            "no Redis server answers at {addr} (gave up after {}; start redis-server, or raise --wait)",
                            show_duration(wait)
                        )
                        .into());
                    }
                    if let Some(say) = on_wait.take() {
                        say();
                    }
                    backoff.pause(deadline - now);
                }
                Err(e) => return Err(format!("cannot connect to {addr}: {e}").into()),
            }
        };
        for set in [Connection::set_read_timeout, Connection::set_write_timeout] {
            set(&con, Some(IO_TIMEOUT)).map_err(|e| fail(addr, "a timeout", &e))?;
        }
        let mut q = Queue {
            con,
            addr: addr.clone(),
            stream: queue.clone(),
            producers: format!("{queue}:producers"),
            ends: format!("{queue}:ends"),
            totals: format!("{queue}:totals"),
            dead: format!("{queue}:dead"),
        };
        match redis::cmd("PING").query::<Value>(&mut q.con) {
            Ok(Value::SimpleString(s)) if s == "PONG" => {}
            Ok(other) => {
                return Err(format!("the peer at {addr} is not a Redis server ({other:?})").into());
            }
            Err(e) => return Err(fail(addr, "PING", &e)),
        }
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&q.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .query::<Value>(&mut q.con);
        match created {
            Ok(_) => {}
            Err(e) if e.code() == Some("BUSYGROUP") => {}
            Err(e) => return Err(fail(addr, "creating the consumer group", &e)),
        }
        Ok(q)
    }

    /// The address, as given.
    pub fn addr(&self) -> &Address {
        &self.addr
    }

    fn query<T: redis::FromRedisValue>(&mut self, what: &str, c: &redis::Cmd) -> Result<T, Error> {
        c.query(&mut self.con)
            .map_err(|e| fail(&self.addr, what, &e))
    }
}

/// A script call with its keys; the caller adds the arguments.
fn eval(script: &str, keys: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(keys.len()).arg(keys);
    c
}

/// A producer's side: puts items, waits while the stream is full, records its end.
pub struct Producer {
    q: Queue,
    name: String,
    pid: String,
    capacity: u64,
}

impl Producer {
    /// Starts producer `name` on `q`; refuses a name that already ended on this queue.
    pub fn start(mut q: Queue, name: &str, capacity: u64) -> Result<Producer, Error> {
        let ended: Option<u64> = q.query("HGET", redis::cmd("HGET").arg(&q.ends).arg(name))?;
        if let Some(n) = ended {
            return Err(format!(
                "producer {name} has already ended on {} (it put {}); give another --name, \
                 or another queue (a finished run's keys go {} after its end)",
                q.addr,
                count(n, "item"),
                show_duration(KEEP_AFTER_END)
            )
            .into());
        }
        Ok(Producer {
            q,
            name: name.to_owned(),
            pid: std::process::id().to_string(),
            capacity,
        })
    }

    /// How many items of `payload_len` bytes go in one put.
    pub fn batch(payload_len: usize) -> usize {
        (PUT_BYTES / payload_len.max(1)).clamp(1, 256)
    }

    /// Puts the items numbered `seqs`, each with `payload`; waits while the stream holds
    /// `capacity` entries or more (back-pressure). Returns whether it had to wait.
    pub fn put(&mut self, seqs: std::ops::Range<u64>, payload: &[u8]) -> Result<bool, Error> {
        let mut next = seqs.start;
        let mut waited = false;
        let mut backoff = Backoff::default();
        while next < seqs.end {
            let mut c = eval(PUT, &[&self.q.stream]);
            c.arg(self.capacity)
                .arg(&self.name)
                .arg(&self.pid)
                .arg(payload);
            for seq in next..seqs.end {
                c.arg(seq);
            }
            let added: u64 = self.q.query("XADD", &c)?;
            next += added;
            if added == 0 {
                waited = true;
                backoff.pause(Duration::from_millis(50));
            } else {
                backoff = Backoff::default();
            }
        }
        Ok(waited)
    }

    /// Records the end: this producer put `count` items.
    pub fn end(&mut self, count: u64) -> Result<(), Error> {
        let c = redis::cmd("HSET")
            .arg(&self.q.ends)
            .arg(&self.name)
            .arg(count)
            .to_owned();
        self.q.query::<Value>("HSET", &c).map(drop)
    }

    pub fn addr(&self) -> &Address {
        &self.q.addr
    }
}

/// An entry handed to a consumer.
#[derive(Debug, Clone)]
pub struct Item {
    /// The stream entry's id, to acknowledge it.
    pub id: String,
    pub producer: String,
    pub seq: u64,
    pub payload: Vec<u8>,
    /// 1 the first time; more for a redelivery (Redis's delivery count).
    pub attempt: u32,
}

/// An entry moved to the dead letters.
#[derive(Debug, Clone)]
pub struct Dead {
    pub producer: String,
    pub seq: u64,
    /// How many times it was handed out.
    pub deliveries: u32,
}

/// The numbers of a run.
#[derive(Debug, Clone, Default)]
pub struct Totals {
    /// Each ended producer and how many items it put, by name.
    pub producers: Vec<(String, u64)>,
    pub expected: u64,
    pub eaten: u64,
    /// Each consumer and how many items it acknowledged first, by name.
    pub consumers: Vec<(String, u64)>,
    pub redelivered: u64,
    pub dead: u64,
    /// Entries in the stream: not yet eaten (waiting or held by a consumer).
    pub waiting: u64,
}

impl Totals {
    pub fn put(&self) -> u64 {
        self.producers.iter().map(|(_, n)| n).sum()
    }

    /// Every expected producer has ended and every item it put is eaten or dead. (More
    /// than were put: a producer that died was run again under its name, putting its first
    /// items again.)
    pub fn over(&self) -> bool {
        self.expected > 0
            && self.producers.len() as u64 >= self.expected
            && self.waiting == 0
            && self.eaten + self.dead >= self.put()
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[(String, u64)]| {
            v.iter()
                .map(|(name, n)| format!("{name} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "received {} from {} ({}); eaten {} by {} ({}); redelivered {}; dead {}",
            self.put(),
            count(self.producers.len() as u64, "producer"),
            list(&self.producers),
            self.eaten,
            count(self.consumers.len() as u64, "consumer"),
            list(&self.consumers),
            self.redelivered,
            self.dead
        )
    }
}

/// What a consumer gets next.
#[derive(Debug)]
pub enum Next {
    /// Entries to eat, then to acknowledge.
    Items(Vec<Item>),
    /// The run is over (the tutorial's `None`).
    Over(Totals),
}

/// How a consumer takes its share.
#[derive(Debug, Clone)]
pub struct TakeOptions {
    pub name: String,
    /// The producers the run expects; `None` takes what the first consumer set (or 1).
    pub producers: Option<u32>,
    /// At most this many entries held at once.
    pub prefetch: u32,
    /// An entry idle this long belongs to a consumer that died.
    pub lease: Duration,
    /// Handed out this many times without an acknowledgement: dead.
    pub max_deliveries: u32,
}

/// A consumer's side: takes entries, renews what it holds, acknowledges what it ate.
pub struct Consumer {
    q: Queue,
    opt: TakeOptions,
    cursor: String,
    /// When it last looked for a dead consumer's entries; `None`: not yet.
    last_reclaim: Option<Instant>,
    last_renew: Instant,
}

impl Consumer {
    /// Joins the group of `q`; agrees on the number of producers the run expects.
    pub fn start(mut q: Queue, opt: TakeOptions) -> Result<Consumer, Error> {
        let want = opt.producers.unwrap_or(1);
        let c = redis::cmd("SET")
            .arg(&q.producers)
            .arg(want)
            .arg("NX")
            .to_owned();
        q.query::<Value>("SET", &c)?;
        let set: Option<u64> = q.query("GET", redis::cmd("GET").arg(&q.producers))?;
        if let (Some(want), Some(set)) = (opt.producers, set)
            && u64::from(want) != set
        {
            return Err(format!(
                "the run on {} expects {set} producers (set by the first consumer), not {want}; \
                 give every consumer the same --producers, or use another queue",
                q.addr
            )
            .into());
        }
        Ok(Consumer {
            q,
            opt,
            cursor: "0-0".into(),
            last_reclaim: None,
            last_renew: Instant::now(),
        })
    }

    pub fn addr(&self) -> &Address {
        &self.q.addr
    }

    /// How long one blocking read waits on the server.
    fn block(&self) -> Duration {
        (self.opt.lease / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }

    /// The next entries: claimed from a consumer that died (past the lease), or new ones,
    /// waiting for them; or the end of the run. Dead letters are told to `on_dead`.
    pub fn next(&mut self, on_dead: &mut dyn FnMut(&Dead)) -> Result<Next, Error> {
        loop {
            if self
                .last_reclaim
                .is_none_or(|t| t.elapsed() >= self.block())
            {
                self.last_reclaim = Some(Instant::now());
                let claimed = self.reclaim(on_dead)?;
                if !claimed.is_empty() {
                    self.last_renew = Instant::now();
                    return Ok(Next::Items(claimed));
                }
            }
            let block = self.block();
            self.q
                .con
                .set_read_timeout(Some(IO_TIMEOUT + block))
                .map_err(|e| fail(&self.q.addr, "a timeout", &e))?;
            let c = redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(GROUP)
                .arg(&self.opt.name)
                .arg("COUNT")
                .arg(self.opt.prefetch)
                .arg("BLOCK")
                .arg(block.as_millis() as u64)
                .arg("STREAMS")
                .arg(&self.q.stream)
                .arg(">")
                .to_owned();
            let reply: Value = self.q.query("XREADGROUP", &c)?;
            let items = parse_read(reply).map_err(|why| self.odd(&why))?;
            if !items.is_empty() {
                self.last_renew = Instant::now();
                return Ok(Next::Items(items));
            }
            let totals = self.totals()?;
            if totals.over() {
                self.expire()?;
                return Ok(Next::Over(totals));
            }
        }
    }

    fn odd(&self, why: &str) -> Error {
        format!(
            "unexpected reply from the Redis server at {}: {why}",
            self.q.addr
        )
        .into()
    }

    fn reclaim(&mut self, on_dead: &mut dyn FnMut(&Dead)) -> Result<Vec<Item>, Error> {
        let mut c = eval(RECLAIM, &[&self.q.stream, &self.q.totals, &self.q.dead]);
        c.arg(GROUP)
            .arg(&self.opt.name)
            .arg(self.opt.lease.as_millis() as u64)
            .arg(self.opt.prefetch)
            .arg(self.opt.max_deliveries)
            .arg(&self.cursor);
        let reply: Value = self.q.query("XAUTOCLAIM", &c)?;
        let Value::Array(parts) = reply else {
            return Err(self.odd("XAUTOCLAIM"));
        };
        let mut parts = parts.into_iter();
        let (Some(cursor), Some(out), Some(dead)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(self.odd("XAUTOCLAIM"));
        };
        self.cursor = text(&cursor).ok_or_else(|| self.odd("XAUTOCLAIM cursor"))?;
        for d in entries(dead).map_err(|why| self.odd(&why))? {
            on_dead(&Dead {
                producer: d.producer,
                seq: d.seq,
                deliveries: d.attempt,
            });
        }
        entries(out).map_err(|why| self.odd(&why))
    }

    /// While eating a batch: at most every third of the lease, acknowledges the entries
    /// `eaten` so far and renews those still `held`, so that none is taken for a dead
    /// consumer's. Returns whether it acknowledged `eaten`.
    pub fn renew(&mut self, eaten: &[String], held: &[String]) -> Result<bool, Error> {
        if self.last_renew.elapsed() < self.opt.lease / 3 {
            return Ok(false);
        }
        self.last_renew = Instant::now();
        self.ack(eaten)?;
        if !held.is_empty() {
            let mut c = eval(RENEW, &[&self.q.stream]);
            c.arg(GROUP).arg(&self.opt.name).arg(held);
            self.q.query::<Value>("XCLAIM", &c)?;
        }
        Ok(true)
    }

    /// Acknowledges (and deletes) the entries eaten; returns how many were still pending.
    pub fn ack(&mut self, ids: &[String]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut c = eval(ACK, &[&self.q.stream, &self.q.totals]);
        c.arg(GROUP).arg(&self.opt.name).arg(ids);
        self.q.query("XACK", &c)
    }

    /// The run's numbers, read in one transaction.
    pub fn totals(&mut self) -> Result<Totals, Error> {
        let mut p = redis::pipe();
        p.atomic()
            .cmd("GET")
            .arg(&self.q.producers)
            .cmd("HGETALL")
            .arg(&self.q.ends)
            .cmd("HGETALL")
            .arg(&self.q.totals)
            .cmd("XLEN")
            .arg(&self.q.stream);
        type Counts = Vec<(String, u64)>;
        let (expected, ends, totals, waiting): (Option<u64>, Counts, Counts, u64) = p
            .query(&mut self.q.con)
            .map_err(|e| fail(&self.q.addr, "reading the totals", &e))?;
        let mut t = Totals {
            producers: ends,
            expected: expected.unwrap_or(0),
            waiting,
            ..Totals::default()
        };
        t.producers.sort();
        for (field, n) in totals {
            match field.as_str() {
                "eaten" => t.eaten = n,
                "redelivered" => t.redelivered = n,
                "dead" => t.dead = n,
                _ => {
                    if let Some(name) = field.strip_prefix("eaten:") {
                        t.consumers.push((name.to_owned(), n));
                    }
                }
            }
        }
        t.consumers.sort();
        Ok(t)
    }

    /// A finished run's keys go after a while (the dead letters stay).
    fn expire(&mut self) -> Result<(), Error> {
        let mut p = redis::pipe();
        for key in [
            &self.q.stream,
            &self.q.producers,
            &self.q.ends,
            &self.q.totals,
        ] {
            p.cmd("EXPIRE")
                .arg(key)
                .arg(KEEP_AFTER_END.as_secs())
                .ignore();
        }
        p.query::<()>(&mut self.q.con)
            .map_err(|e| fail(&self.q.addr, "EXPIRE", &e))
    }

    /// The name of the dead-letter stream.
    pub fn dead_letters(&self) -> &str {
        &self.q.dead
    }
}

/// Text of a bulk or simple string.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// An entry from its fields (`producer`, `seq`, `payload`, ...: a flat list).
fn item(id: String, attempt: u32, fields: Vec<Value>) -> Result<Item, String> {
    let mut it = Item {
        id,
        producer: String::new(),
        seq: u64::MAX,
        payload: Vec::new(),
        attempt,
    };
    let mut f = fields.into_iter();
    while let (Some(k), Some(v)) = (f.next(), f.next()) {
        match text(&k).as_deref() {
            Some("producer") => it.producer = text(&v).unwrap_or_default(),
            Some("seq") => it.seq = number(&v).unwrap_or(u64::MAX),
            Some("payload") => {
                if let Value::BulkString(b) = v {
                    it.payload = b;
                }
            }
            _ => {}
        }
    }
    if it.producer.is_empty() || it.seq == u64::MAX {
        return Err(format!(
            "entry {} of the stream is not a baozi (no producer or seq field)",
            it.id
        ));
    }
    Ok(it)
}

/// XREADGROUP's reply: nil, or `[[stream, [[id, fields]...]]]`.
fn parse_read(reply: Value) -> Result<Vec<Item>, String> {
    let streams = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(s) => s,
        Value::Map(m) => m
            .into_iter()
            .map(|(k, v)| Value::Array(vec![k, v]))
            .collect(),
        other => return Err(format!("XREADGROUP answered {other:?}")),
    };
    let mut out = Vec::new();
    for s in streams {
        let Value::Array(pair) = s else {
            return Err("XREADGROUP: a stream is not a pair".into());
        };
        let Some(Value::Array(list)) = pair.into_iter().nth(1) else {
            return Err("XREADGROUP: no entries list".into());
        };
        for e in list {
            let Value::Array(e) = e else {
                return Err("XREADGROUP: an entry is not a pair".into());
            };
            let mut e = e.into_iter();
            let id = e
                .next()
                .as_ref()
                .and_then(text)
                .ok_or("XREADGROUP: no id")?;
            match e.next() {
                Some(Value::Array(fields)) => out.push(item(id, 1, fields)?),
                _ => return Err(format!("XREADGROUP: entry {id} has no fields")),
            }
        }
    }
    Ok(out)
}

/// The reclaim script's lists: `[[id, deliveries, fields]...]`.
fn entries(v: Value) -> Result<Vec<Item>, String> {
    let Value::Array(list) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for e in list {
        let Value::Array(e) = e else {
            return Err("XAUTOCLAIM: an entry is not a list".into());
        };
        let mut e = e.into_iter();
        let (Some(id), Some(n), Some(Value::Array(fields))) = (e.next(), e.next(), e.next()) else {
            return Err("XAUTOCLAIM: an entry lacks its id, count or fields".into());
        };
        let id = text(&id).ok_or("XAUTOCLAIM: an id is not text")?;
        let n = number(&n).map_or(1, |n| u32::try_from(n).unwrap_or(u32::MAX));
        out.push(item(id, n, fields)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_over_only_when_every_expected_producer_ended_and_everything_is_accounted() {
        let mut t = Totals {
            producers: vec![("p1".into(), 10)],
            expected: 2,
            eaten: 10,
            ..Totals::default()
        };
        assert!(!t.over(), "one producer of two");
        t.producers.push(("p2".into(), 5));
        t.waiting = 5;
        assert!(!t.over(), "5 items neither eaten nor dead");
        t.eaten = 14;
        t.dead = 1;
        assert!(!t.over(), "still in the stream");
        t.waiting = 0;
        assert!(t.over());
        t.consumers = vec![("c1".into(), 14)];
        assert_eq!(
            t.to_string(),
            "received 15 from 2 producers (p1 10, p2 5); eaten 14 by 1 consumer (c1 14); redelivered 0; dead 1"
        );
        assert!(!Totals::default().over(), "nothing expected yet");
    }

    #[test]
    fn entries_parse_and_strangers_are_refused() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("1-0"),
                Value::Array(vec![
                    b("producer"),
                    b("p1"),
                    b("pid"),
                    b("7"),
                    b("seq"),
                    b("3"),
                    b("payload"),
                    b("xx"),
                ]),
            ])]),
        ])]);
        let items = parse_read(reply).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            (items[0].producer.as_str(), items[0].seq, items[0].attempt),
            ("p1", 3, 1)
        );
        assert_eq!(items[0].payload, b"xx");
        assert!(parse_read(Value::Nil).unwrap().is_empty());
        let stranger = Value::Array(vec![Value::Array(vec![
            b("q"),
            Value::Array(vec![Value::Array(vec![
                b("2-0"),
                Value::Array(vec![b("hello"), b("world")]),
            ])]),
        ])]);
        assert!(parse_read(stranger).unwrap_err().contains("not a baozi"));
    }
}
