//! Flags that mean something for one kind of address only are refused, with one line
//! naming the address kind they need, when given with another: a usage error (exit 2),
//! before anything is opened.

use testkit::{cmd_with, run};

#[test]
fn max_deliveries_needs_a_redis_address_and_lease_a_queue() {
    // A lease means the same on both queues, and nothing where producers come (-l, stdio).
    for args in [&["-l", "local:baozi-flags"][..], &["stdio"]] {
        run(cmd_with("consumer", &[args, &["--lease", "5s"]].concat()))
            .code(2)
            .stderr_has("--lease is for a queue: a broker's address or redis://");
    }
    for (flag, value) in [("--max-deliveries", "3")] {
        for addr in ["local:baozi-queue", "tcp:127.0.0.1:9"] {
            run(cmd_with("consumer", &[addr, flag, value]))
                .code(2)
                .stderr_has(&format!(
                    "{flag} needs a redis:// address (redis://HOST:PORT/QUEUE), not {addr}"
                ));
        }
        // Listening too: only a Redis server keeps such a queue.
        run(cmd_with(
            "consumer",
            &["-l", "local:baozi-flags", flag, value],
        ))
        .code(2)
        .stderr_has(&format!("{flag} needs a redis:// address"));
    }
}

#[test]
fn producers_without_listening_or_redis_is_still_refused() {
    run(cmd_with(
        "consumer",
        &["local:baozi-queue", "--producers", "2"],
    ))
    .code(2)
    .stderr_has("--producers needs -l (producers connect to this consumer) or a redis:// address");
}

#[test]
fn the_help_says_which_address_each_queue_flag_is_for() {
    let help = run(cmd_with("consumer", &["--help"])).success();
    help.stdout_has("How many producers the run has; it means one of two things")
        .stdout_has("From a queue (a broker's or a redis:// address): an item held this long")
        .stdout_has("Only with a redis:// address: an item handed out N times");
}
