//! The queue on Redis Streams (`redis://HOST:PORT/QUEUE`): the same lines, counts and end
//! as from a broker; the `redisq` crate knows the keys and commands.

use crate::Cli;
use crate::eat::{Eater, Manner, STOP, Tally};
use common::cli::Result;
use common::style::Paint;
use common::wire::Role;
use ipc::units::count;
use redisq::{Consumer, Dead, Next, TakeOptions};
use std::time::{Duration, Instant};

/// What was eaten is acknowledged at most this long after it was eaten, or after this
/// many items, whichever comes first (as from a broker).
const ACK_WITHIN: Duration = Duration::from_millis(100);
const ACK_EVERY: usize = 64;

/// Eats from the queue until the run is over. Returns what was eaten even on failure.
pub fn run(cli: &Cli, manner: &Manner) -> (Tally, Result<()>) {
    let mut eater = Eater::new(manner);
    let Some(token) = crate::eat::stop_on_interrupt() else {
        return (eater.tally, Ok(()));
    };
    let result = take(cli, &mut eater);
    if STOP.is_raised() {
        // The signal's ending waited for this goodbye: let it exit, with its own code.
        eater.flush();
        drop(token);
        crate::eat::wait_for_the_end();
    }
    (eater.tally, result)
}

fn take(cli: &Cli, eater: &mut Eater<'_>) -> Result<()> {
    if cli.endpoint.listen {
        return Err("a redis:// queue is kept by a Redis server: connect to it (drop -l)".into());
    }
    let addr = &cli.endpoint.address;
    let wait = cli.endpoint.wait;
    // A request a signal cuts short returns at once, so that the goodbye below is said.
    redisq::return_on_signal();
    let mut q = redisq::Queue::connect(addr, wait, || {
        common::cli::say_waiting(&cli.name, addr, wait);
    })?;
    let name = cli.name.clone();
    q.on_reconnect(move |line| {
        ipc::elog!("{}: {line}", Paint::stderr().role(Role::Consumer, &name));
    });
    q.on_stop(|| STOP.is_raised());
    let max = cli.max_deliveries.unwrap_or(crate::MAX_DELIVERIES);
    let mut c = Consumer::start(
        q,
        TakeOptions {
            name: cli.name.clone(),
            producers: cli.producers,
            prefetch: cli.prefetch,
            lease: cli.lease.unwrap_or(crate::LEASE),
            max_deliveries: max,
        },
    )?;
    let who = Paint::stderr().role(Role::Consumer, &cli.name);
    let dead_letters = c.dead_letters().to_owned();
    let mut on_dead = |d: &Dead| {
        ipc::elog!("{who}: {}; moved to {dead_letters}", d.told(max));
    };
    let gone = |eaten: u64, e: common::Error| {
        format!("{e}, after {} were eaten here", count(eaten, "item"))
    };
    let lease = cli.lease.unwrap_or(crate::LEASE);
    let renew_every = (lease / 4).max(Duration::from_millis(1));
    loop {
        let eaten = eater.tally.items;
        let want = eater.appetite.want(cli.prefetch);
        let next = c.next(want, &mut on_dead);
        if next.as_ref().is_err_and(stopping) {
            return leave(&mut c, &[], eater.tally.items);
        }
        let items = match next.map_err(|e| gone(eaten, e))? {
            Next::Items(items) => items,
            Next::Over(totals) => {
                eater.flush();
                ipc::elog!("{who}: the run on {addr} is over: {totals}");
                if totals.dead > 0 {
                    ipc::elog!(
                        "{who}: the run ended with {} set aside in {dead_letters}",
                        count(totals.dead, "dead item")
                    );
                }
                return Ok(());
            }
        };
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        // ids[..acked] are acknowledged, ids[..ate] eaten.
        let (mut acked, mut ate) = (0, 0);
        let mut told = Instant::now();
        // The end of the last item eaten: each item took from there to its own end.
        let mut last = told;
        let mut failed = None;
        for (k, it) in items.iter().enumerate() {
            if STOP.is_raised() {
                break;
            }
            eater.die_if_poison(it.seq, &it.producer);
            let more = eater.rest_of_batch(k, items.len());
            let mut renew = || {
                if failed.is_none() {
                    match c.renew(&ids[acked..k], &ids[k..]) {
                        Ok(true) => acked = k,
                        Ok(false) => {}
                        Err(e) => failed = Some(e),
                    }
                }
            };
            let eaten_now = eater.queue_item(
                it.seq,
                &it.producer,
                it.payload.len(),
                it.attempt,
                more,
                renew_every,
                &mut renew,
                last,
            );
            if let Some(e) = failed.take() {
                if stopping(&e) {
                    return leave(&mut c, &ids[acked..k], eater.tally.items);
                }
                return Err(gone(eater.tally.items, e).into());
            }
            let Some((now, _)) = eaten_now else {
                break;
            };
            last = now;
            ate = k + 1;
            if ate - acked >= ACK_EVERY
                || now.saturating_duration_since(told) >= ACK_WITHIN
                || ate == items.len()
            {
                // Sent now, its reply read with the next request (the next read's).
                let acking = c.ack_soon(&ids[acked..ate]);
                if acking.as_ref().is_err_and(stopping) {
                    return leave(&mut c, &ids[acked..ate], eater.tally.items);
                }
                acking.map_err(|e| gone(eater.tally.items, e))?;
                acked = ate;
                told = now;
            }
        }
        if STOP.is_raised() {
            return leave(&mut c, &ids[acked..ate], eater.tally.items);
        }
    }
}

/// Whether a failed request means the consumer is stopping: the stop is raised, or the
/// request was cut short by the signal whose handler has not raised it yet (the blocked
/// read sees the signal first).
fn stopping(e: &common::Error) -> bool {
    STOP.is_raised() || (redisq::was_interrupted(e) && STOP.wait(SIGNAL_TO_STOP))
}

/// How long a request cut short by a signal waits for the stop to be raised.
const SIGNAL_TO_STOP: Duration = Duration::from_secs(2);

/// Ctrl-C or SIGTERM: what was eaten is acknowledged, the rest goes back at once, also an
/// entry whose delivery the signal cut off mid-reply (`Consumer::leave`).
fn leave(c: &mut Consumer, eaten: &[String], items: u64) -> Result<()> {
    c.leave(eaten)
        .map_err(|e| format!("{e}, after {} were eaten here", count(items, "item")).into())
}
