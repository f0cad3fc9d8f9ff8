//! A producer's side of the queue: holds its name while it runs, puts items under the
//! capacity (each at most once, even when a batch is sent again), records its end.

use crate::scripts::{END, LIVE, PUT};
use crate::{KEEP_AFTER_END, LIVE_LEASE, Queue, eval};
use common::Error;
use ipc::addr::Address;
use ipc::units::{Backoff, count, show_duration};
use redis::Value;
use std::time::{Duration, Instant};

/// At most this many payload bytes go in one put.
const PUT_BYTES: usize = 4 << 20;

/// A producer's side: puts items, waits while the stream is full, records its end.
pub struct Producer {
    q: Queue,
    name: String,
    pid: String,
    capacity: u64,
    /// `Q:live:NAME`, held while this producer runs.
    live: String,
    /// What this producer holds `live` with.
    token: String,
    /// How long its hold on the name lasts after each renewal.
    hold: Duration,
    renewed: Instant,
    /// A put sent ahead ([`Producer::put_ahead`]) whose reply is still to be read: its
    /// sequence numbers and payload.
    ahead: Option<(std::ops::Range<u64>, Vec<u8>)>,
    /// Every item below this one is put (its put answered).
    confirmed: u64,
}

impl Producer {
    /// Starts producer `name` on `q`, whose longest pause between two puts is `pause`
    /// (`--delay`). Refuses a name that already ended on this queue or that a live
    /// producer holds, and a producer that comes after the run has all its producers.
    pub fn start(
        mut q: Queue,
        name: &str,
        capacity: u64,
        pause: Duration,
    ) -> Result<Producer, Error> {
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
        let want: Option<u64> = q.query("GET", redis::cmd("GET").arg(&q.producers))?;
        let ended: u64 = q.query("HLEN", redis::cmd("HLEN").arg(&q.ends))?;
        if let Some(want) = want.filter(|&w| w > 0 && ended >= w) {
            return Err(late(&q.addr, want).into());
        }
        // A killed producer keeps its name this long at most: the lease, beyond the
        // longest pause between its puts (which renew it).
        let hold = LIVE_LEASE + pause;
        let live = format!("{}:live:{name}", q.stream);
        let mut rng = ipc::units::XorShift::seeded();
        let token = format!("{:016x}", rng.next());
        let c = redis::cmd("SET")
            .arg(&live)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(hold.as_millis() as u64)
            .to_owned();
        let taken: Option<String> = q.query("SET", &c)?;
        if taken.is_none() {
            let left: i64 = q.query("PTTL", redis::cmd("PTTL").arg(&live))?;
            // In whole seconds, rounded up: a person reads it.
            let left = Duration::from_secs(u64::try_from(left).unwrap_or(0).div_ceil(1000));
            return Err(format!(
                "a producer named {name} is already sending to {}; give this one another \
                 --name (if that one was killed, its name is free within {})",
                q.addr,
                show_duration(left.max(Duration::from_secs(1)))
            )
            .into());
        }
        // The run's keys outlive this producer's longest pause.
        q.keep_at_least(pause * 2);
        q.join_run()?;
        Ok(Producer {
            q,
            name: name.to_owned(),
            pid: std::process::id().to_string(),
            capacity,
            live,
            token,
            hold,
            renewed: Instant::now(),
            ahead: None,
            confirmed: 0,
        })
    }

    /// How many items of `payload_len` bytes go in one put.
    pub fn batch(payload_len: usize) -> usize {
        (PUT_BYTES / payload_len.max(1)).clamp(1, 256)
    }

    /// The put script's call for the items numbered `seqs`, each with `payload`.
    fn put_cmd(&self, seqs: std::ops::Range<u64>, payload: &[u8]) -> redis::Cmd {
        let mut c = eval(
            PUT,
            &[
                &self.q.stream,
                &self.q.totals,
                &self.q.ends,
                &self.q.producers,
            ],
        );
        c.arg(self.capacity)
            .arg(&self.name)
            .arg(&self.pid)
            .arg(payload)
            .arg(self.q.keep().as_millis() as u64);
        for seq in seqs {
            c.arg(seq);
        }
        c
    }

    /// Every item below this one is put.
    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// Like [`Producer::put`], but returns once the put is sent: its reply is read when
    /// the next one is sent (one round trip less a batch, the server never idle waiting
    /// for this producer). What did not fit (back-pressure) is put again, in order, then.
    /// [`Producer::settle`] (or [`Producer::end`]) reads the last reply.
    pub fn put_ahead(&mut self, seqs: std::ops::Range<u64>, payload: &[u8]) -> Result<(), Error> {
        let follows = self
            .ahead
            .as_ref()
            .is_some_and(|(a, p)| a.end == seqs.start && p == payload);
        if !follows || self.alive_due() {
            self.settle()?;
            self.alive()?;
        }
        let c = self.put_cmd(seqs.clone(), payload);
        let before = self.q.reconnects;
        let prev = self.ahead.take();
        if let Err(e) = self.q.con.send_packed_command(&c.get_packed_command()) {
            self.q.recover("XADD", &e)?;
        }
        let Some((prev, _)) = prev else {
            if self.q.reconnects == before {
                self.ahead = Some((seqs, payload.to_vec()));
                return Ok(());
            }
            self.put(seqs, payload)?;
            return Ok(());
        };
        // The previous put's reply, then (where it did not take all) this one's.
        let mut took = None;
        if self.q.reconnects == before {
            match self.q.con.recv_response() {
                Ok(Value::Int(n)) => took = Some(n),
                Ok(other) => return Err(self.odd(&other)),
                Err(e) => self.q.recover("XADD", &e)?,
            }
        }
        if took == Some(prev.end as i64 - prev.start as i64) {
            self.confirmed = prev.end;
            self.ahead = Some((seqs, payload.to_vec()));
            return Ok(());
        }
        if took.is_some() && self.q.reconnects == before {
            // This one's reply: nothing taken past the gap (see the put script).
            match self.q.con.recv_response() {
                Ok(_) => {}
                Err(e) => self.q.recover("XADD", &e)?,
            }
        }
        // Again, in order and waiting, from where the previous one stopped (each put
        // skips what is put already).
        let from = prev.start + took.and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        self.put(from..seqs.end, payload)?;
        Ok(())
    }

    /// Reads the reply of the put sent ahead, and puts what it did not take.
    pub fn settle(&mut self) -> Result<(), Error> {
        let Some((seqs, payload)) = self.ahead.take() else {
            return Ok(());
        };
        let before = self.q.reconnects;
        let took = match self.q.con.recv_response() {
            Ok(Value::Int(n)) => u64::try_from(n).unwrap_or(0),
            Ok(other) => return Err(self.odd(&other)),
            Err(e) => {
                self.q.recover("XADD", &e)?;
                0
            }
        };
        debug_assert!(self.q.reconnects == before || took == 0);
        self.put(seqs.start + took..seqs.end, &payload)?;
        Ok(())
    }

    fn odd(&self, v: &Value) -> Error {
        match v {
            Value::ServerError(e) => {
                crate::fail(&self.q.addr, "XADD", &redis::RedisError::from(e.clone()))
            }
            other => format!(
                "unexpected reply from the Redis server at {} to a put: {other:?}",
                self.q.addr
            )
            .into(),
        }
    }

    /// Puts the items numbered `seqs`, each with `payload`; waits while the stream holds
    /// `capacity` entries or more (back-pressure). Returns whether it had to wait.
    pub fn put(&mut self, seqs: std::ops::Range<u64>, payload: &[u8]) -> Result<bool, Error> {
        self.settle()?;
        let mut next = seqs.start;
        let mut waited = false;
        let mut backoff = Backoff::default();
        while next < seqs.end {
            self.alive()?;
            let c = self.put_cmd(next..seqs.end, payload);
            let took: i64 = self.q.query("XADD", &c)?;
            let Ok(took) = u64::try_from(took) else {
                let want: Option<u64> = self
                    .q
                    .query("GET", redis::cmd("GET").arg(&self.q.producers))?;
                return Err(late(&self.q.addr, want.unwrap_or(0)).into());
            };
            next += took;
            self.confirmed = next;
            if took == 0 {
                waited = true;
                backoff.pause(Duration::from_millis(50));
            } else {
                backoff = Backoff::default();
            }
        }
        Ok(waited)
    }

    /// Whether [`Producer::alive`] has a request to make now.
    fn alive_due(&self) -> bool {
        self.renewed.elapsed() >= LIVE_LEASE / 4 || self.q.touch_due()
    }

    /// Renews the hold on the name (every fourth of the lease) and touches the run's keys.
    fn alive(&mut self) -> Result<(), Error> {
        if self.renewed.elapsed() >= LIVE_LEASE / 4 {
            self.renewed = Instant::now();
            let mut c = eval(LIVE, &[&self.live]);
            c.arg(&self.token).arg(self.hold.as_millis() as u64);
            let ours: i64 = self.q.query("SET", &c)?;
            if ours == 0 {
                return Err(format!(
                    "another producer named {} took this name on {} while this one was away; \
                     give each producer its own --name",
                    self.name, self.q.addr
                )
                .into());
            }
        }
        self.q.touch()
    }

    /// Records the end: this producer put `count` items.
    pub fn end(&mut self, count: u64) -> Result<(), Error> {
        self.settle()?;
        let mut c = eval(END, &[&self.q.ends, &self.live]);
        c.arg(&self.name).arg(count).arg(&self.token);
        self.q.query::<Value>("HSET", &c)?;
        self.q.touch_now()
    }

    pub fn addr(&self) -> &Address {
        &self.q.addr
    }
}

/// The refusal of a producer that came after the run had all its producers.
fn late(addr: &Address, want: u64) -> String {
    format!(
        "the run on {addr} already has all its {} and they have ended; this producer's items \
         would never be eaten: use another queue name for a new run (or this one once the \
         run's keys have gone, {} after its end)",
        count(want, "producer"),
        show_duration(KEEP_AFTER_END)
    )
}
