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
//! | `Q:run`       | the run's identity, a random id set by its first client: one that reconnects and finds it gone or changed knows the server lost the run |
//! | `Q:live:NAME` | held by producer NAME while it runs (a lease it renews, [`LIVE_LEASE`]): a second producer of that name is refused |
//!
//! `Q:totals` also holds `put:NAME`, the next sequence number producer NAME has still to put:
//! the put script skips lower ones, so a batch sent again (its reply lost with the server) is
//! not put twice. Every key of the run but `Q:dead` expires [`KEEP_IDLE`] after the last
//! client of the run touched it (each does, at least every second while it runs), so an
//! abandoned run's keys go.
//!
//! put = XADD, a batch at a time, only while fewer than `--capacity` entries are `left`
//! (checked, added and counted in one script, so nothing is put over the capacity or
//! uncounted; an unpaced producer sends the next batch before it reads the reply to the
//! last, and a batch that would leave a gap takes nothing); take = XREADGROUP in the group `baozi`, blocking; eaten = one XACK of the
//! whole batch with the totals, in one script, counting only entries still pending, so a
//! duplicate is never counted twice (sent when due, its reply read behind the next
//! XREADGROUP: one round trip for both; a read after one that found entries does not
//! block, then blocks 2 ms, doubling, so an ended run is seen at once); the same script trims the stream (`XTRIM MINID ~`)
//! below its oldest pending entry, which drops whole nodes of settled entries and never a
//! pending one (no XDEL per id: it costs the server ten times an XACK). A consumer renews what it
//! holds while it eats (XCLAIM JUSTID, its own entries only); entries idle longer than
//! `--lease` belong to a consumer that died, and the next live consumer claims them
//! (XAUTOCLAIM) as redeliveries, or, past `--max-deliveries`, moves them to `Q:dead`.
//! The run is over when `Q:producers` producers have ended, nothing is `left` (every
//! entry acknowledged or dead) and eaten + dead reach the counts in `Q:ends`; the
//! acknowledged entries still in the stream then go. Its keys (not `Q:dead`) then expire after [`KEEP_AFTER_END`].
//!
//! A server that goes away mid-run (a connection lost, not a timeout) is reconnected to for
//! `--wait`, at least [`RECONNECT_AT_LEAST`]; then the request is made again (each is
//! idempotent: acknowledgements count only pending entries, puts skip what was put) if `Q:run`
//! is still this run's, and otherwise the run is lost: said in one line.

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

/// How long a run's keys stay after its last client touched them: an abandoned run's go.
pub const KEEP_IDLE: Duration = Duration::from_secs(600);

/// How often a client of a run touches its keys (and a producer renews its name).
const TOUCH_EVERY: Duration = Duration::from_secs(1);

/// How long a producer's name stays taken after its last renewal, beyond its longest
/// `--delay`: the longest a producer killed -9 keeps its name from another.
pub const LIVE_LEASE: Duration = Duration::from_secs(5);

/// A client whose server went away mid-run tries to reconnect for its `--wait`, and at
/// least this long (a restart takes a moment).
pub const RECONNECT_AT_LEAST: Duration = Duration::from_secs(10);

/// One connection to the server that keeps queue `Q`, with the names of its keys.
pub struct Queue {
    pub(crate) con: Connection,
    /// To connect again.
    client: redis::Client,
    /// A user and a password for `AUTH`, from the address or REDISCLI_AUTH.
    login: Option<(Option<String>, String)>,
    /// The address as typed, for messages.
    pub(crate) addr: Address,
    pub(crate) stream: String,
    pub(crate) producers: String,
    pub(crate) ends: String,
    pub(crate) totals: String,
    pub(crate) dead: String,
    /// `Q:run`, the run's identity.
    pub(crate) run_key: String,
    /// The identity of the run this client joined; `None` before it joined one (then a
    /// lost server is an error, not reconnected to).
    run: Option<String>,
    /// How long to try to reconnect after the server went away.
    reconnect_for: Duration,
    /// How many times this client reconnected.
    pub(crate) reconnects: u64,
    /// Says a line to the person (the server went away; reconnecting).
    say: Box<dyn Fn(&str)>,
    /// Whether the program is stopping (Ctrl-C): reconnecting then gives up at once.
    stopping: Box<dyn Fn() -> bool>,
    /// When this client last touched the run's keys.
    touched: Option<Instant>,
    /// How long the run's keys stay after a touch.
    keep: Duration,
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
    /// listens there yet (or it is still loading its data), for up to `wait`; calls
    /// `on_wait` once if it has to wait.
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
        // The password from the address, or else from REDISCLI_AUTH (as redis-cli takes
        // it), so that it need not be on a command line where ps shows it.
        let from_env = std::env::var("REDISCLI_AUTH")
            .ok()
            .filter(|p| !p.is_empty());
        let user = auth.user().map(str::to_owned);
        let password = auth.password().map(|p| p.expose().to_owned()).or(from_env);
        let login = match (user, password) {
            (user, Some(password)) => Some((user, password)),
            (Some(_), None) => {
                return Err(format!(
                    "{addr} names a user but no password: add it (redis://USER:PASSWORD@...) or set REDISCLI_AUTH"
                )
                .into());
            }
            (None, None) => None,
        };
        let deadline = Instant::now() + wait;
        let mut backoff = Backoff::default();
        let mut on_wait = Some(on_wait);
        let con = loop {
            match dial(&client, login.as_ref()) {
                Ok(con) => break con,
                Err(e) if e.again() => {
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
                Err(e) => return Err(refused(addr, &e)),
            }
        };
        Ok(Queue {
            con,
            client,
            login,
            addr: addr.clone(),
            stream: queue.clone(),
            producers: format!("{queue}:producers"),
            ends: format!("{queue}:ends"),
            totals: format!("{queue}:totals"),
            dead: format!("{queue}:dead"),
            run_key: format!("{queue}:run"),
            run: None,
            reconnect_for: wait.max(RECONNECT_AT_LEAST),
            reconnects: 0,
            say: Box::new(|_| {}),
            stopping: Box::new(|| false),
            touched: None,
            keep: KEEP_IDLE,
        })
    }

    /// `say` tells the person a line of this client's (the server went away and it is
    /// reconnecting); without it, nothing is said.
    pub fn on_reconnect(&mut self, say: impl Fn(&str) + 'static) {
        self.say = Box::new(say);
    }

    /// `stopping` says whether the program is stopping (a signal): then a reconnection
    /// in progress gives up at once, with an error that [`was_interrupted`] recognises.
    pub fn on_stop(&mut self, stopping: impl Fn() -> bool + 'static) {
        self.stopping = Box::new(stopping);
    }

    /// The address, as given.
    pub fn addr(&self) -> &Address {
        &self.addr
    }

    /// Joins the run on this queue, or starts it: its identity is `Q:run`, set by the
    /// first client. From now on a lost server is reconnected to.
    pub(crate) fn join_run(&mut self) -> Result<(), Error> {
        let mut rng = ipc::units::XorShift::seeded();
        let mine = format!("{:016x}{:016x}", rng.next(), rng.next());
        // Redis 7: SET ... NX GET answers the value it found, or nil when it set ours.
        let c = redis::cmd("SET")
            .arg(&self.run_key)
            .arg(&mine)
            .arg("NX")
            .arg("GET")
            .to_owned();
        let found: Option<String> = self.query("SET", &c)?;
        self.run = Some(found.unwrap_or(mine));
        self.touch_now()
    }

    /// At most every [`TOUCH_EVERY`], pushes the expiry of the run's keys to `keep` from
    /// now (never nearer): the run is alive.
    pub(crate) fn touch(&mut self) -> Result<(), Error> {
        if !self.touch_due() {
            return Ok(());
        }
        self.touched = Some(Instant::now());
        let keys = [
            &self.stream,
            &self.producers,
            &self.ends,
            &self.totals,
            &self.run_key,
        ];
        let mut c = redis::cmd("EVAL");
        c.arg(scripts::TOUCH).arg(keys.len()).arg(&keys[..]);
        c.arg(self.keep.as_millis() as u64);
        self.query::<Value>("PEXPIRE", &c).map(drop)
    }

    /// Whether [`Queue::touch`] would touch the run's keys now.
    pub(crate) fn touch_due(&self) -> bool {
        self.touched.is_none_or(|t| t.elapsed() >= TOUCH_EVERY)
    }

    /// Touches the run's keys now.
    pub(crate) fn touch_now(&mut self) -> Result<(), Error> {
        self.touched = None;
        self.touch()
    }

    /// How long the run's keys stay after a touch.
    pub(crate) fn keep(&self) -> Duration {
        self.keep
    }

    /// Keeps the run's keys at least `keep` after each touch (a producer whose `--delay`
    /// is longer than [`KEEP_IDLE`]).
    pub(crate) fn keep_at_least(&mut self, keep: Duration) {
        self.keep = self.keep.max(keep);
    }

    pub(crate) fn query<T: redis::FromRedisValue>(
        &mut self,
        what: &str,
        c: &redis::Cmd,
    ) -> Result<T, Error> {
        self.retry(what, |con| c.query(con))
    }

    /// Runs `f` on the connection; where the server went away mid-run, reconnects and runs
    /// it again (every request of ours is idempotent, see the crate's doc).
    pub(crate) fn retry<T>(
        &mut self,
        what: &str,
        mut f: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        loop {
            match f(&mut self.con) {
                Ok(v) => return Ok(v),
                Err(e) if self.run.is_some() && lost(&e) => self.reconnect(what, &e)?,
                Err(e) => return Err(fail(&self.addr, what, &e)),
            }
        }
    }

    /// After `e` (during `what`) on a request made by hand, not through [`Queue::retry`]:
    /// where the server went away mid-run, reconnects (the caller makes its requests
    /// again); otherwise the error, worded.
    pub(crate) fn recover(&mut self, what: &str, e: &redis::RedisError) -> Result<(), Error> {
        if self.run.is_some() && lost(e) {
            self.reconnect(what, e)
        } else {
            Err(fail(&self.addr, what, e))
        }
    }

    /// A fresh connection at once, without retrying (a request a signal cut short may have
    /// left the old one mid-reply).
    pub(crate) fn redial(&mut self) -> Result<(), Error> {
        self.con = dial(&self.client, self.login.as_ref()).map_err(|e| refused(&self.addr, &e))?;
        Ok(())
    }

    /// The server went away (`e`, during `what`): says so once, reconnects for
    /// `reconnect_for`, and checks that the run survived (its `Q:run` is still ours).
    fn reconnect(&mut self, what: &str, e: &redis::RedisError) -> Result<(), Error> {
        let addr = &self.addr;
        (self.say)(&format!(
            "the Redis server at {addr} went away ({what}: {}); reconnecting (for up to {})",
            e,
            show_duration(self.reconnect_for)
        ));
        let deadline = Instant::now() + self.reconnect_for;
        let mut backoff = Backoff::default();
        loop {
            if (self.stopping)() {
                return Err(
                    format!("{INTERRUPTED} while waiting for the Redis server at {addr}").into(),
                );
            }
            let found = dial(&self.client, self.login.as_ref()).and_then(|mut con| {
                let run: Option<String> = redis::cmd("GET").arg(&self.run_key).query(&mut con)?;
                Ok((con, run))
            });
            let found = match found {
                Ok(found) => Ok(found),
                Err(Dialed::Redis(e)) => Err(e),
                Err(stranger) => return Err(refused(addr, &stranger)),
            };
            match found {
                Ok((con, run)) => {
                    self.con = con;
                    self.reconnects += 1;
                    self.touched = None;
                    if run != self.run {
                        return Err(format!(
                            "the Redis server at {addr} restarted without its data; this run's \
                             items are lost; start the run again (and give the server \
                             persistence, appendonly yes, to outlive a restart)"
                        )
                        .into());
                    }
                    return Ok(());
                }
                Err(e) if lost(&e) || e.is_connection_refusal() || loading(&e) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(format!(
                            "the Redis server at {addr} went away ({what}) and did not come back \
                             within {} ({})",
                            show_duration(self.reconnect_for),
                            e
                        )
                        .into());
                    }
                    backoff.pause(deadline - now);
                }
                Err(e) => return Err(fail(addr, "reconnecting", &e)),
            }
        }
    }
}

/// Why [`dial`] failed: the server's (or the network's) error, or a peer that is not Redis.
enum Dialed {
    Redis(redis::RedisError),
    Stranger(String),
}

impl From<redis::RedisError> for Dialed {
    fn from(e: redis::RedisError) -> Dialed {
        Dialed::Redis(e)
    }
}

impl Dialed {
    /// Worth trying again: nobody listens yet, or the server is loading its data.
    fn again(&self) -> bool {
        matches!(self, Dialed::Redis(e) if e.is_connection_refusal() || loading(e))
    }
}

/// One connection with its timeouts, logged in (`AUTH`) and answering `PING`.
fn dial(
    client: &redis::Client,
    login: Option<&(Option<String>, String)>,
) -> Result<Connection, Dialed> {
    let mut con = client.get_connection_with_timeout(IO_TIMEOUT)?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    if let Some((user, password)) = login {
        let mut auth = redis::cmd("AUTH");
        if let Some(user) = user {
            auth.arg(user);
        }
        auth.arg(password);
        auth.query::<Value>(&mut con)?;
    }
    match redis::cmd("PING").query::<Value>(&mut con)? {
        Value::SimpleString(s) if s == "PONG" => Ok(con),
        other => Err(Dialed::Stranger(format!("{other:?}"))),
    }
}

/// Why connecting failed, worded for the person (a wrong password, a stranger, a mute
/// server...).
fn refused(addr: &Address, e: &Dialed) -> Error {
    let e = match e {
        Dialed::Stranger(what) => {
            return format!("the peer at {addr} is not a Redis server ({what})").into();
        }
        Dialed::Redis(e) => e,
    };
    if interrupted(e) {
        // A signal, not the server: told (or waited out) as everywhere.
        return fail(addr, "connecting", e);
    }
    if e.code() == Some("WRONGPASS") {
        let user = match addr {
            Address::Redis { auth, .. } => auth
                .user()
                .map(|u| format!(" of user {u}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        return format!("the Redis server at {addr} refused the password{user} (WRONGPASS)").into();
    }
    if e.is_timeout() {
        return format!(
            "the Redis server at {addr} did not answer within {} (connecting)",
            show_duration(IO_TIMEOUT)
        )
        .into();
    }
    if e.is_connection_refusal() || e.is_io_error() {
        return format!("cannot connect to {addr}: {e}").into();
    }
    fail(addr, "AUTH or PING", e)
}

/// Whether the server answered that it is still loading its data (just restarted).
fn loading(e: &redis::RedisError) -> bool {
    e.code() == Some("LOADING")
}

/// Whether `e` means the connection is lost (the server went away): not a timeout (a
/// server that stops answering is told as such), not a signal.
fn lost(e: &redis::RedisError) -> bool {
    !interrupted(e) && !e.is_timeout() && (e.is_connection_dropped() || e.is_io_error())
}

/// A script call with its keys; the caller adds the arguments.
pub(crate) fn eval(script: &str, keys: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(keys.len()).arg(keys);
    c
}
