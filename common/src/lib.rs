//! What every baozi-ipc binary shares.
//!
//! - [`addr`]: the one address grammar (`stdio`, `local:NAME`, `unix:PATH`, `tcp:HOST:PORT`,
//!   `udp:HOST:PORT`, `redis://HOST:PORT/QUEUE`).
//! - [`transport`]: connecting (with `--wait` retries) and listening on any address.
//! - [`msg`]: the message types, and only here.
//! - [`redisq`]: the queue on Redis Streams (`redis://HOST:PORT/QUEUE`), and only here.
//! - [`wire`]: the wire format, and only here: greeting, length-prefixed postcard frames.
//! - [`echo`]: the echo line protocol of the socket section, and only here: bounded line
//!   reading that keeps each line's ending, replies, notices.
//! - [`cli`]: options shared by several binaries, value parsers, and the `main` wrapper
//!   that turns errors into one line on stderr and an exit code.
//! - [`say`]: lines for people: whole, never fatal on a closed stderr; a closed stdout
//!   is a quiet end.
//! - [`serve`]: the serving scaffolding of every server: accept on many addresses, a
//!   thread per client, a client limit, a [`shutdown::Stop`] handed in.
//! - [`shutdown`]: Ctrl-C handling: raise the stop, last words, clean up what we created,
//!   exit 130.
//! - [`shm`]: the shared segment: a named memory-mapped file with a checked header, the
//!   count, worker slots, semaphore gauges, and the undo journal of the count.
//! - [`lock`]: cross-process locks that survive a killed holder: a mutex and a counting
//!   semaphore made of lock files.
//! - [`style`]: colours by role, only on a terminal, never with `NO_COLOR`.
//! - [`svg`]: the pictures' drawing board: shapes, escaped text, a time axis.
//! - [`units`]: durations, sizes, ranges and counts as people type and read them.

pub mod addr;
pub mod cli;
pub mod echo;
pub mod lock;
pub mod msg;
pub mod redisq;
pub mod say;
pub mod serve;
pub mod shm;
pub mod shutdown;
pub mod style;
pub mod svg;
pub mod transport;
pub mod units;
pub mod wire;

pub use addr::Address;

/// The error type of the layers that report to people as one line (`shm`, the binaries'
/// `run`): anything, shown with its sources.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[cfg(test)]
mod layers {
    //! ARCHITECTURE.md's layers, checked on the sources: the leaves import nothing of this
    //! crate, and nothing but the binaries imports `cli`.

    const LEAVES: [(&str, &str); 6] = [
        ("units.rs", include_str!("units.rs")),
        ("svg.rs", include_str!("svg.rs")),
        ("say.rs", include_str!("say.rs")),
        ("addr.rs", include_str!("addr.rs")),
        ("msg/stream.rs", include_str!("msg/stream.rs")),
        ("msg/queue.rs", include_str!("msg/queue.rs")),
    ];
    const BELOW_CLI: [(&str, &str); 10] = [
        ("transport.rs", include_str!("transport.rs")),
        ("wire.rs", include_str!("wire.rs")),
        ("echo.rs", include_str!("echo.rs")),
        ("serve.rs", include_str!("serve.rs")),
        ("shutdown.rs", include_str!("shutdown.rs")),
        ("lock.rs", include_str!("lock.rs")),
        ("shm.rs", include_str!("shm.rs")),
        ("style.rs", include_str!("style.rs")),
        ("msg/mod.rs", include_str!("msg/mod.rs")),
        ("redisq.rs", include_str!("redisq.rs")),
    ];

    #[test]
    fn leaves_import_nothing_of_the_crate() {
        for (file, text) in LEAVES {
            let text = text.replace("$crate::", ""); // a macro naming its own crate
            assert!(!text.contains("crate::"), "{file} imports from the crate");
        }
    }

    /// Every program's sources, for the output rule.
    const PROGRAMS: [(&str, &str); 19] = [
        ("producer/main", include_str!("../../producer/src/main.rs")),
        ("producer/send", include_str!("../../producer/src/send.rs")),
        ("consumer/main", include_str!("../../consumer/src/main.rs")),
        (
            "consumer/receive",
            include_str!("../../consumer/src/receive.rs"),
        ),
        (
            "consumer/queue",
            include_str!("../../consumer/src/queue.rs"),
        ),
        (
            "consumer/redis",
            include_str!("../../consumer/src/redis.rs"),
        ),
        ("broker/main", include_str!("../../broker/src/main.rs")),
        ("broker/serve", include_str!("../../broker/src/serve.rs")),
        (
            "broker/timeline",
            include_str!("../../broker/src/timeline.rs"),
        ),
        ("server/main", include_str!("../../server/src/main.rs")),
        ("server/serve", include_str!("../../server/src/serve.rs")),
        ("client/main", include_str!("../../client/src/main.rs")),
        ("client/talk", include_str!("../../client/src/talk.rs")),
        ("counter/main", include_str!("../../counter/src/main.rs")),
        ("counter/count", include_str!("../../counter/src/count.rs")),
        ("counter/sem", include_str!("../../counter/src/sem.rs")),
        (
            "counter/timeline",
            include_str!("../../counter/src/timeline.rs"),
        ),
        (
            "counter/launch",
            include_str!("../../counter/src/launch.rs"),
        ),
        ("common/cli", include_str!("cli.rs")),
    ];

    /// ARCHITECTURE.md: people read whole lines, and a closed output never panics: every
    /// program writes through `say` (`elog!`, `out_line`), never `eprintln!`/`println!`.
    #[test]
    fn programs_print_only_through_say() {
        for (file, text) in PROGRAMS.iter().chain(&BELOW_CLI) {
            for bad in ["eprintln!(", "println!(", "eprint!(", "print!("] {
                assert!(!text.contains(bad), "{file} uses {bad}");
            }
        }
    }

    /// ARCHITECTURE.md: `unsafe` only in `shm` and `transport`. The workspace's lints deny
    /// `unsafe_code`, so only an explicit allow can let it in.
    #[test]
    fn unsafe_is_allowed_only_in_shm_and_transport() {
        for (file, text) in PROGRAMS.iter().chain(&BELOW_CLI).chain(&LEAVES) {
            let may = matches!(*file, "shm.rs" | "transport.rs");
            assert!(
                may || !text.contains("allow(unsafe_code)"),
                "{file} allows unsafe"
            );
        }
    }

    #[test]
    fn nothing_below_cli_imports_it() {
        for (file, text) in BELOW_CLI.iter().chain(&LEAVES) {
            assert!(!text.contains("crate::cli"), "{file} imports cli");
        }
    }
}
