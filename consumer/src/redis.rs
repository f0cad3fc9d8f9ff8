//! The queue on Redis Streams (`redis://HOST:PORT/QUEUE`): the same lines, counts and end
//! as from a broker; the `redisq` crate knows the keys and commands.

use crate::Cli;
use crate::eat::{Eater, Manner, Tally};
use common::cli::Result;
use common::style::Paint;
use common::wire::Role;
use ipc::units::count;
use redisq::{Consumer, Dead, Next, TakeOptions};

/// Eats from the queue until the run is over. Returns what was eaten even on failure.
pub fn run(cli: &Cli, manner: &Manner) -> (Tally, Result<()>) {
    let mut eater = Eater::new(manner);
    let result = take(cli, &mut eater);
    (eater.tally, result)
}

fn take(cli: &Cli, eater: &mut Eater<'_>) -> Result<()> {
    if cli.endpoint.listen {
        return Err("a redis:// queue is kept by a Redis server: connect to it (drop -l)".into());
    }
    let addr = &cli.endpoint.address;
    let wait = cli.endpoint.wait;
    let q = redisq::Queue::connect(addr, wait, || {
        common::cli::say_waiting(&cli.name, addr, wait);
    })?;
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
    loop {
        let eaten = eater.tally.items;
        let items = match c.next(&mut on_dead).map_err(|e| gone(eaten, e))? {
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
        let mut acked = 0;
        for (k, it) in items.iter().enumerate() {
            eater.die_if_poison(it.seq, &it.producer);
            if c.renew(&ids[acked..k], &ids[k..])
                .map_err(|e| gone(eater.tally.items, e))?
            {
                acked = k;
            }
            let more = eater.rest_of_batch(k, items.len());
            eater.item(it.seq, &it.producer, it.payload.len(), it.attempt, more);
        }
        c.ack(&ids[acked..])
            .map_err(|e| gone(eater.tally.items, e))?;
    }
}
