//! The queue on Redis Streams: what `redis://HOST:PORT/QUEUE` means to a producer and a
//! consumer, and the only place that knows it.
//!
//! For a queue named `Q` the keys are:
//!
//! | key           | what it holds                                                        |
//! |---------------|----------------------------------------------------------------------|
//! | `Q`           | a stream: one entry per baozi put, field `baozi` = `SEQ PID PRODUCER\nPAYLOAD`; acknowledged ones until their node is trimmed |
//! | group `baozi` | the consumer group on `Q`: who holds which entry, and since when     |
//! | `Q:producers` | how many producers the run expects (set by the first consumer, `--producers`) |
//! | `Q:ends`      | a hash: producer name -> how many items it put, written at its end   |
//! | `Q:totals`    | a hash: `eaten`, `eaten:NAME` per consumer, `redelivered`, `dead`, and `left`: put and not yet acknowledged or dead |
//! | `Q:dead`      | a stream: the dead letters, each with its `id` and `deliveries`      |
//!
//! put = XADD, a batch at a time, only while fewer than `--capacity` entries are `left`
//! (checked, added and counted in one script, so nothing is put over the capacity or
//! uncounted); take = XREADGROUP in the group `baozi`, blocking; eaten = one XACK of the
//! whole batch with the totals, in one script, counting only entries still pending, so a
//! duplicate is never counted twice; the same script trims the stream (`XTRIM MINID ~`)
//! below its oldest pending entry, which drops whole nodes of settled entries and never a
//! pending one (no XDEL per id: it costs the server ten times an XACK). A consumer renews what it
//! holds while it eats (XCLAIM JUSTID, its own entries only); entries idle longer than
//! `--lease` belong to a consumer that died, and the next live consumer claims them
//! (XAUTOCLAIM) as redeliveries, or, past `--max-deliveries`, moves them to `Q:dead`.
//! The run is over when `Q:producers` producers have ended, nothing is `left` (every
//! entry acknowledged or dead) and eaten + dead reach the counts in `Q:ends`; the
//! acknowledged entries still in the stream then go. Its keys (not `Q:dead`) then expire after [`KEEP_AFTER_END`].

use common::Error;
use ipc::addr::Address;
use ipc::units::{Backoff, show_duration};
use redis::{Connection, ConnectionAddr, IntoConnectionInfo, Value};
use std::time::{Duration, Instant};

mod consumer;
mod producer;
mod reply;
mod scripts;

pub use common::msg::run::{Dead, Totals};
pub use consumer::{Consumer, Item, Next, TakeOptions};
pub use producer::Producer;

/// The consumer group every consumer of a queue joins.
pub const GROUP: &str = "baozi";

/// How long a reply may take beyond what was asked of the server (a blocking read's own
/// wait), and how long connecting may take: past it, the server is taken for gone.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a finished run's keys stay, so that every consumer sees the end.
pub const KEEP_AFTER_END: Duration = Duration::from_secs(60);

/// One connection to the server that keeps queue `Q`, with the names of its keys.
pub struct Queue {
    pub(crate) con: Connection,
    /// The address as typed, for messages.
    pub(crate) addr: Address,
    pub(crate) stream: String,
    pub(crate) producers: String,
    pub(crate) ends: String,
    pub(crate) totals: String,
    pub(crate) dead: String,
}

/// A failure, worded for the person who typed the address.
pub(crate) fn fail(addr: &Address, what: &str, e: &redis::RedisError) -> Error {
    if interrupted(e) && RETURN_ON_SIGNAL.load(std::sync::atomic::Ordering::Relaxed) {
        // The caller says goodbye itself (a consumer: ack what it ate, give back the rest)
        // before the signal's ending, which waits for it: return at once.
        return format!("{INTERRUPTED} while waiting for the Redis server at {addr}").into();
    }
    if interrupted(e) {
        // A signal (Ctrl-C, SIGTERM, SIGHUP) cut a blocked read short: a socket with a read
        // timeout is not restarted after a handler. It is not the server going away: the
        // signal's own ending (130, 143, 129, with the last words) runs on the signal
        // thread and ends the process; give it that time instead of racing it.
        std::thread::sleep(SIGNAL_GRACE);
        return format!(
            "interrupted by a signal while waiting for the Redis server at {addr} ({what})"
        )
        .into();
    }
    if e.is_timeout() {
        format!(
            "the Redis server at {addr} did not answer within {} ({what})",
            show_duration(IO_TIMEOUT)
        )
        .into()
    } else if e.is_io_error() || e.is_connection_dropped() {
        format!("the Redis server at {addr} went away ({what}: {e})").into()
    } else if e.code() == Some("NOAUTH") {
        format!(
            "the Redis server at {addr} wants a password ({what}): give it in the address \
             (redis://:PASSWORD@HOST:PORT/QUEUE, or redis://USER:PASSWORD@... for an ACL user) \
             or, to keep it out of ps, in REDISCLI_AUTH"
        )
        .into()
    } else {
        format!("the Redis server at {addr} refused {what}: {e}").into()
    }
}

/// How an error of a request cut short by a signal starts ([`was_interrupted`]).
const INTERRUPTED: &str = "interrupted by a signal";

/// Whether `e` is a request cut short by a signal (with [`return_on_signal`] set).
pub fn was_interrupted(e: &Error) -> bool {
    e.to_string().starts_with(INTERRUPTED)
}

/// Set by [`return_on_signal`].
static RETURN_ON_SIGNAL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A request cut short by a signal returns its error at once, instead of waiting for the
/// signal to end the process: for a program whose signal ending waits for its own goodbye
/// (the consumer's [`Consumer::leave`]), which it must then be free to say.
pub fn return_on_signal() {
    RETURN_ON_SIGNAL.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// How long a read cut short by a signal waits for that signal to end the process.
const SIGNAL_GRACE: Duration = Duration::from_secs(5);

/// Whether a failed request was cut short by a signal (EINTR), not by the server.
fn interrupted(e: &redis::RedisError) -> bool {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    // The crate keeps an I/O error as a shared trait object: its source is that `Arc`.
    let Some(source) = std::error::Error::source(e) else {
        return false;
    };
    let io = source
        .downcast_ref::<std::io::Error>()
        .or_else(|| source.downcast_ref::<Shared>()?.downcast_ref());
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::Interrupted)
}

impl Queue {
    /// Connects to the server of `addr` (a `redis://` address), retrying while nothing
    /// listens there yet, for up to `wait`; calls `on_wait` once if it has to wait. Makes
    /// sure the stream and its group exist.
    pub fn connect(addr: &Address, wait: Duration, on_wait: impl FnOnce()) -> Result<Queue, Error> {
        let Address::Redis {
            host,
            port,
            queue,
            auth,
        } = addr
        else {
            return Err(format!("{addr} is not a redis:// address").into());
        };
        // No pipelined CLIENT SETINFO on connecting: a server that accepts and never
        // answers would take its 10 s there and then the PING's 10 s. The first answer
        // awaited is our own (AUTH or PING), told like any other.
        let info = ConnectionAddr::Tcp(host.clone(), *port)
            .into_connection_info()
            .map_err(|e| format!("cannot use {addr}: {e}"))?;
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let client = redis::Client::open(info.set_redis_settings(settings))
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
                Err(e) if e.is_timeout() => {
                    return Err(format!(
                        "the Redis server at {addr} did not answer within {} (connecting)",
                        show_duration(IO_TIMEOUT)
                    )
                    .into());
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
        // The password from the address, or else from REDISCLI_AUTH (as redis-cli takes
        // it), so that it need not be on a command line where ps shows it.
        let from_env = std::env::var("REDISCLI_AUTH")
            .ok()
            .filter(|p| !p.is_empty());
        let user = auth.user();
        let password = auth.password().map(|p| p.expose().to_owned()).or(from_env);
        if let Some(password) = password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = user {
                auth.arg(user);
            }
            auth.arg(password);
            match auth.query::<Value>(&mut q.con) {
                Ok(_) => {}
                Err(e) if e.code() == Some("WRONGPASS") => {
                    return Err(format!(
                        "the Redis server at {addr} refused the password{} (WRONGPASS)",
                        user.as_ref()
                            .map(|u| format!(" of user {u}"))
                            .unwrap_or_default()
                    )
                    .into());
                }
                Err(e) => return Err(fail(addr, "AUTH", &e)),
            }
        } else if user.is_some() {
            return Err(format!(
                "{addr} names a user but no password: add it (redis://USER:PASSWORD@...) or set REDISCLI_AUTH"
            )
            .into());
        }
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

    pub(crate) fn query<T: redis::FromRedisValue>(
        &mut self,
        what: &str,
        c: &redis::Cmd,
    ) -> Result<T, Error> {
        c.query(&mut self.con)
            .map_err(|e| fail(&self.addr, what, &e))
    }
}

/// A script call with its keys; the caller adds the arguments.
pub(crate) fn eval(script: &str, keys: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(keys.len()).arg(keys);
    c
}
