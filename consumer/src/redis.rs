//! The queue on Redis Streams (`redis://HOST:PORT/QUEUE`): the same lines, counts and end
//! as from a broker; the `redisq` crate knows the keys and commands.

use crate::Cli;
use crate::queue::line;
use crate::receive::{Printer, RECEIVED, Show, Tally};
use common::cli::Result;
use common::style::Paint;
use common::units::{XorShift, count};
use common::wire::Role;
use redisq::{Consumer, Dead, Next, TakeOptions};
use std::sync::atomic::Ordering;

/// Eats from the queue until the run is over. Returns what was eaten even on failure.
pub fn eat(cli: &Cli, show: &Show) -> (Tally, Result<()>) {
    let mut tally = Tally::default();
    let result = eat_from(cli, show, &mut tally);
    (tally, result)
}

fn eat_from(cli: &Cli, show: &Show, tally: &mut Tally) -> Result<()> {
    if cli.endpoint.listen {
        return Err("a redis:// queue is kept by a Redis server: connect to it (drop -l)".into());
    }
    let addr = &cli.endpoint.address;
    let wait = cli.endpoint.wait;
    let q = redisq::Queue::connect(addr, wait, || {
        common::cli::say_waiting(&cli.name, addr, wait);
    })?;
    let mut c = Consumer::start(
        q,
        TakeOptions {
            name: cli.name.clone(),
            producers: cli.producers,
            prefetch: cli.prefetch,
            lease: cli.lease,
            max_deliveries: cli.max_deliveries,
        },
    )?;
    let who = Paint::stderr().role(Role::Consumer, &cli.name);
    let dead_letters = c.dead_letters().to_owned();
    let max = cli.max_deliveries;
    let mut on_dead = |d: &Dead| {
        common::elog!(
            "{who}: baozi {} from {} is dead: handed out {} (--max-deliveries {max}); moved to {dead_letters}",
            d.seq,
            d.producer,
            count(u64::from(d.deliveries), "time"),
        );
    };
    let gone = |eaten: u64, e: common::Error| {
        format!("{e}, after {} were eaten here", count(eaten, "item"))
    };
    let mut out = Printer::new(!show.quiet);
    let mut rng = XorShift::seeded();
    loop {
        let items = match c.next(&mut on_dead).map_err(|e| gone(tally.items, e))? {
            Next::Items(items) => items,
            Next::Over(totals) => {
                out.flush();
                common::elog!("{who}: the run on {addr} is over: {totals}");
                if totals.dead > 0 {
                    common::elog!(
                        "{who}: the run ended with {} set aside in {dead_letters}",
                        count(totals.dead, "dead item")
                    );
                }
                return Ok(());
            }
        };
        let ids: Vec<String> = items.iter().map(|i| i.id.clone()).collect();
        let mut acked = 0;
        for (k, it) in items.iter().enumerate() {
            if show.die_on == Some(it.seq) {
                out.flush();
                common::elog!(
                    "{}: dying on baozi {} from {} without acknowledging it (--die-on)",
                    show.name,
                    it.seq,
                    it.producer
                );
                std::process::exit(3);
            }
            if c.renew(&ids[acked..k], &ids[k..])
                .map_err(|e| gone(tally.items, e))?
            {
                acked = k;
            }
            if !show.eat.is_zero() {
                std::thread::sleep(show.eat.pick(&mut rng));
            }
            tally.items += 1;
            tally.bytes += it.payload.len() as u64;
            RECEIVED.fetch_add(1, Ordering::Relaxed);
            line(
                &mut out,
                show,
                it.seq,
                &it.producer,
                it.payload.len(),
                it.attempt,
            );
        }
        out.flush();
        c.ack(&ids[acked..]).map_err(|e| gone(tally.items, e))?;
    }
}
