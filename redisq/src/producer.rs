//! A producer's side of the queue: puts items under the capacity, records its end.

use crate::scripts::PUT;
use crate::{KEEP_AFTER_END, Queue, eval};
use common::Error;
use ipc::addr::Address;
use ipc::units::{Backoff, count, show_duration};
use redis::Value;
use std::time::Duration;

/// At most this many payload bytes go in one put.
const PUT_BYTES: usize = 4 << 20;

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
            let mut c = eval(PUT, &[&self.q.stream, &self.q.totals]);
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
