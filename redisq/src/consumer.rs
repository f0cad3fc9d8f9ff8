//! A consumer's side of the queue: takes entries (new ones, or a dead consumer's past the
//! lease), renews what it holds while it eats, acknowledges what it ate, and tells the end
//! of the run.

use crate::reply::{entries, parse_read, text};
use crate::scripts::{ACK, GIVE_BACK, MINE, RECLAIM, RENEW, TIDY};
use crate::{GROUP, IO_TIMEOUT, KEEP_AFTER_END, Queue, eval, fail};
use common::Error;
use common::msg::run::{Dead, Put, Stream, Totals};
use ipc::addr::Address;
use redis::Value;
use std::time::{Duration, Instant};

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
    /// The queue's reconnections already looked at: after a new one, this consumer reads
    /// what it holds (a delivery whose reply was lost with the server).
    reconnects: u64,
    /// Acknowledgements sent ahead ([`Consumer::ack_soon`]) whose replies are still to be
    /// read: how many, and their ids (acknowledged again where the connection was lost
    /// before the replies came).
    owed: usize,
    unanswered: Vec<String>,
    /// How long the next read blocks: `None` (not at all) after a read that found
    /// entries, then from [`FIRST_WAIT`] doubling up to [`Consumer::block`], the end of
    /// the run checked between reads: an empty stream is told at once, an ended run within
    /// a few milliseconds, an idle one costs a read every half second.
    wait: Option<Duration>,
}

/// The first blocking read's wait after the stream ran dry.
const FIRST_WAIT: Duration = Duration::from_millis(2);

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
        let created = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&q.stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM")
            .to_owned();
        match q.query::<Value>("creating the consumer group", &created) {
            Ok(_) => {}
            Err(e) if e.to_string().contains("BUSYGROUP") => {}
            Err(e) => return Err(e),
        }
        q.join_run()?;
        Ok(Consumer {
            q,
            opt,
            cursor: "0-0".into(),
            last_reclaim: None,
            last_renew: Instant::now(),
            reconnects: 0,
            owed: 0,
            unanswered: Vec::new(),
            wait: None,
        })
    }

    pub fn addr(&self) -> &Address {
        &self.q.addr
    }

    /// How long one blocking read waits on the server.
    fn block(&self) -> Duration {
        (self.opt.lease / 4).clamp(Duration::from_millis(10), Duration::from_millis(500))
    }

    /// The next entries, at most `want` (and `prefetch`): claimed from a consumer that
    /// died (past the lease) or gave them back, or new ones, waiting for them; or the end
    /// of the run. Dead letters are told to `on_dead`.
    pub fn next(&mut self, want: u32, on_dead: &mut dyn FnMut(&Dead)) -> Result<Next, Error> {
        let want = want.clamp(1, self.opt.prefetch.max(1));
        loop {
            // Every request but the read waits for the acknowledgements sent ahead first.
            if self.q.touch_due() {
                self.settle()?;
                self.q.touch()?;
            }
            if self.q.reconnects != self.reconnects {
                self.settle()?;
                self.reconnects = self.q.reconnects;
                let mine = self.mine(want)?;
                if !mine.is_empty() {
                    self.last_renew = Instant::now();
                    return Ok(Next::Items(mine));
                }
            }
            if self
                .last_reclaim
                .is_none_or(|t| t.elapsed() >= self.block())
            {
                self.settle()?;
                self.last_reclaim = Some(Instant::now());
                let claimed = self.reclaim(want, on_dead)?;
                if !claimed.is_empty() {
                    self.last_renew = Instant::now();
                    return Ok(Next::Items(claimed));
                }
            }
            let block = self.wait.map(|w| w.min(self.block()));
            self.q
                .con
                .set_read_timeout(Some(IO_TIMEOUT + block.unwrap_or_default()))
                .map_err(|e| fail(&self.q.addr, "a timeout", &e))?;
            let mut c = redis::cmd("XREADGROUP");
            c.arg("GROUP")
                .arg(GROUP)
                .arg(&self.opt.name)
                .arg("COUNT")
                .arg(want);
            if let Some(block) = block {
                c.arg("BLOCK").arg(block.as_millis() as u64);
            }
            c.arg("STREAMS").arg(&self.q.stream).arg(">");
            let reply = self.read_after_acks(&c)?;
            let items = parse_read(reply).map_err(|why| self.odd(&why))?;
            if !items.is_empty() {
                self.wait = None;
                self.last_renew = Instant::now();
                return Ok(Next::Items(items));
            }
            let totals = self.totals()?;
            if totals.over() {
                self.expire()?;
                return Ok(Next::Over(totals));
            }
            self.wait = Some(block.map_or(FIRST_WAIT, |b| b * 2));
        }
    }

    /// Sends the read `c` behind the acknowledgements sent ahead, reads their replies and
    /// then its own: one round trip for both. Where the connection is lost on the way,
    /// reconnects, acknowledges again and reads again.
    fn read_after_acks(&mut self, c: &redis::Cmd) -> Result<Value, Error> {
        if self.owed > 0 {
            let before = self.q.reconnects;
            match self.q.con.send_packed_command(&c.get_packed_command()) {
                Ok(()) => {
                    self.settle()?;
                    if self.q.reconnects == before {
                        match self.q.con.recv_response().and_then(answered) {
                            Ok(reply) => return Ok(reply),
                            Err(e) => self.q.recover("XREADGROUP", &e)?,
                        }
                    }
                }
                Err(e) => {
                    self.q.recover("XREADGROUP", &e)?;
                    self.reack()?;
                }
            }
        }
        self.q.query("XREADGROUP", c)
    }

    /// Reads the replies of the acknowledgements sent ahead; where the connection was lost
    /// before they came, reconnects and acknowledges them again.
    fn settle(&mut self) -> Result<(), Error> {
        while self.owed > 0 {
            match self.q.con.recv_response().and_then(answered) {
                Ok(_) => self.owed -= 1,
                Err(e) => {
                    // The connection is past use: [`Consumer::leave`] redials.
                    self.owed = 0;
                    self.q.recover("XACK", &e)?;
                    return self.reack();
                }
            }
        }
        self.unanswered.clear();
        Ok(())
    }

    /// The connection was replaced: the acknowledgements sent ahead on the old one are
    /// made again (counting only entries still pending, so none twice).
    fn reack(&mut self) -> Result<(), Error> {
        self.owed = 0;
        let ids = std::mem::take(&mut self.unanswered);
        self.ack(&ids).map(drop)
    }

    /// Acknowledges the entries eaten without waiting for the reply, which is read with
    /// the next request (the next read's round trip): the server has them as soon as
    /// without it.
    pub fn ack_soon(&mut self, ids: &[String]) -> Result<(), Error> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut c = eval(ACK, &[&self.q.stream, &self.q.totals]);
        c.arg(GROUP).arg(&self.opt.name).arg(ids);
        self.unanswered.extend_from_slice(ids);
        match self.q.con.send_packed_command(&c.get_packed_command()) {
            Ok(()) => {
                self.owed += 1;
                Ok(())
            }
            Err(e) => {
                self.q.recover("XACK", &e)?;
                self.reack()
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

    /// What this consumer holds, read again after a reconnection (see [`MINE`]).
    fn mine(&mut self, want: u32) -> Result<Vec<Item>, Error> {
        let mut c = eval(MINE, &[&self.q.stream]);
        c.arg(GROUP).arg(&self.opt.name).arg(want);
        let reply: Value = self.q.query("XCLAIM", &c)?;
        entries(reply).map_err(|why| self.odd(&why))
    }

    fn reclaim(&mut self, want: u32, on_dead: &mut dyn FnMut(&Dead)) -> Result<Vec<Item>, Error> {
        let mut c = eval(RECLAIM, &[&self.q.stream, &self.q.totals, &self.q.dead]);
        c.arg(GROUP)
            .arg(&self.opt.name)
            .arg(self.opt.lease.as_millis() as u64)
            .arg(want)
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
        self.settle()?;
        self.q.touch()?;
        self.ack(eaten)?;
        if !held.is_empty() {
            let mut c = eval(RENEW, &[&self.q.stream]);
            c.arg(GROUP).arg(&self.opt.name).arg(held);
            self.q.query::<Value>("XCLAIM", &c)?;
        }
        Ok(true)
    }

    /// Leaving (Ctrl-C): the entries `held` and not eaten go back for the next consumer to
    /// claim at once, not counted as a delivery. Returns how many were still ours.
    pub fn give_back(&mut self, held: &[String]) -> Result<u64, Error> {
        if held.is_empty() {
            return Ok(0);
        }
        self.settle()?;
        let mut c = eval(GIVE_BACK, &[&self.q.stream]);
        c.arg(GROUP).arg(&self.opt.name).arg(held);
        self.q.query("XCLAIM", &c)
    }

    /// Leaving on a signal: on a fresh connection (a request the signal cut short may have
    /// left this one mid-reply), acknowledges `eaten`, then gives back every entry still
    /// pending for this consumer, including one whose delivery the signal cut off before
    /// its reply arrived here.
    pub fn leave(&mut self, eaten: &[String]) -> Result<(), Error> {
        self.q.redial()?;
        // What was sent ahead on the old connection may not have arrived: sent again.
        self.owed = 0;
        let mut ids = std::mem::take(&mut self.unanswered);
        ids.extend_from_slice(eaten);
        self.ack(&ids)?;
        let mut c = redis::cmd("XPENDING");
        c.arg(&self.q.stream)
            .arg(GROUP)
            .arg("-")
            .arg("+")
            .arg(10_000)
            .arg(&self.opt.name);
        let pending: Vec<(String, String, u64, u64)> = self.q.query("XPENDING", &c)?;
        let held: Vec<String> = pending.into_iter().map(|(id, ..)| id).collect();
        self.give_back(&held)?;
        Ok(())
    }

    /// Acknowledges the entries eaten, in one script; returns how many were still pending.
    pub fn ack(&mut self, ids: &[String]) -> Result<u64, Error> {
        if ids.is_empty() {
            return Ok(0);
        }
        self.settle()?;
        let mut c = eval(ACK, &[&self.q.stream, &self.q.totals]);
        c.arg(GROUP).arg(&self.opt.name).arg(ids);
        self.q.query("XACK", &c)
    }

    /// The run's numbers, read in one transaction.
    pub fn totals(&mut self) -> Result<Totals, Error> {
        self.settle()?;
        let mut p = redis::pipe();
        p.atomic()
            .cmd("GET")
            .arg(&self.q.producers)
            .cmd("HGETALL")
            .arg(&self.q.ends)
            .cmd("HGETALL")
            .arg(&self.q.totals);
        // Counts are whole numbers; `left` dips below 0 only if someone deleted waiting
        // entries by hand, and then the run cannot end anyway.
        type Counts = Vec<(String, i64)>;
        let (expected, ends, totals): (Option<u64>, Counts, Counts) =
            self.q.retry("reading the totals", |con| p.query(con))?;
        let whole = |n: i64| u64::try_from(n).unwrap_or(0);
        let mut ends: Vec<(String, u64)> = ends.into_iter().map(|(k, n)| (k, whole(n))).collect();
        ends.sort();
        // Only producers that have ended are in Q:ends.
        let mut t = Totals {
            received: ends.iter().map(|(_, n)| n).sum(),
            producers: ends
                .into_iter()
                .map(|(name, items)| Put {
                    name,
                    items,
                    stream: Stream::Ended,
                })
                .collect(),
            expected: expected.unwrap_or(0),
            ..Totals::default()
        };
        for (field, n) in totals {
            let n = whole(n);
            match field.as_str() {
                "left" => t.left = n,
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

    /// A finished run's acknowledged entries go now, its keys after a while (the dead
    /// letters stay).
    fn expire(&mut self) -> Result<(), Error> {
        let tidy = eval(TIDY, &[&self.q.stream, &self.q.totals]);
        self.q.query::<Value>("XTRIM", &tidy)?;
        let mut p = redis::pipe();
        for key in [
            &self.q.stream,
            &self.q.producers,
            &self.q.ends,
            &self.q.totals,
            &self.q.run_key,
        ] {
            p.cmd("EXPIRE")
                .arg(key)
                .arg(KEEP_AFTER_END.as_secs())
                .ignore();
        }
        self.q.retry("EXPIRE", |con| p.query::<()>(con))
    }

    /// The name of the dead-letter stream.
    pub fn dead_letters(&self) -> &str {
        &self.q.dead
    }
}

/// A reply, or the server's error in it.
fn answered(v: Value) -> redis::RedisResult<Value> {
    match v {
        Value::ServerError(e) => Err(e.into()),
        v => Ok(v),
    }
}
