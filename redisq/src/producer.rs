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
            self.alive()?;
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
            for seq in next..seqs.end {
                c.arg(seq);
            }
            let took: i64 = self.q.query("XADD", &c)?;
            let Ok(took) = u64::try_from(took) else {
                let want: Option<u64> = self
                    .q
                    .query("GET", redis::cmd("GET").arg(&self.q.producers))?;
                return Err(late(&self.q.addr, want.unwrap_or(0)).into());
            };
            next += took;
            if took == 0 {
                waited = true;
                backoff.pause(Duration::from_millis(50));
            } else {
                backoff = Backoff::default();
            }
        }
        Ok(waited)
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
