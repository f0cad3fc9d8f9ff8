//! counter: a count in shared memory that worker processes decrement under a lock which
//! survives a `kill -9` (section 4 of the tutorial), and a counting semaphore that survives
//! one too (section 5).
//!
//! Try it, in one terminal (the launcher starts the workers as separate processes):
//!
//! ```text
//! cargo run -p counter -- run                                   # 20 workers, 1 decrement each: 20 -> 0
//! cargo run -p counter -- run --workers 20 --decrements 1000 --quiet
//! cargo run -p counter -- run --decrements 200 --lock none --quiet   # lost updates
//! cargo run -p counter -- semaphore                             # 13 workers, 5 permits, 0-3 s stays
//! ```
//!
//! Or by hand, in several terminals:
//!
//! ```text
//! Terminal 1:  cargo run -p counter -- init demo --value 100 --permits 2
//! Terminal 2:  cargo run -p counter -- work demo --decrements 50 --pause 100ms
//! Terminal 3:  cargo run -p counter -- work demo --decrements 50 --pause 100ms
//! Terminal 1:  cargo run -p counter -- show demo                # count 0, 100 completed
//! Terminal 2:  cargo run -p counter -- enter demo --stay 5s     # one of 2 permits
//! Terminal 3:  cargo run -p counter -- enter demo --stay 5s --times 3
//! Terminal 1:  cargo run -p counter -- clean demo
//! ```

mod clean;
mod count;
mod launch;
mod layout;
mod list;
mod locked;
mod sem;
mod timeline;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipc::units::{DurationRange, parse_duration, parse_duration_range};
use std::process::ExitCode;
use std::time::Duration;

/// A count in shared memory, decremented by worker processes under a lock that survives a
/// `kill -9`; and a counting semaphore whose permits come back when their holder dies.
///
/// The count lives in a named segment: a memory-mapped file (`/dev/shm/baozi-NAME` on
/// Linux, `baozi-NAME` in the temp dir on Windows), with a lock file and permit files
/// beside it, all readable and writable by their owner only (0600; `--shared-with-group`
/// makes them 0660). `run` and `semaphore` are the tutorial's demos in one command; `init`,
/// `work`, `enter`, `show` and `clean` are the same steps by hand.
#[derive(Parser, Debug)]
#[command(version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The tutorial's demo: create a segment, start worker processes that each decrement the
    /// count, wait for them, print the final count, remove the segment.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// The semaphore demo: worker processes take turns inside, at most K at once.
    #[command(after_help = SEMAPHORE_EXAMPLES)]
    Semaphore(SemaphoreArgs),
    /// Create segment NAME and leave it for `work`, `enter`, `show` and `clean`.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Decrement the count of segment NAME, as one worker.
    #[command(after_help = WORK_EXAMPLES)]
    Work(WorkArgs),
    /// Go inside segment NAME's semaphore, as one worker: wait for a permit, stay, leave.
    #[command(after_help = ENTER_EXAMPLES)]
    Enter(EnterArgs),
    /// Print what segment NAME holds: the count and its accounting, the permits' gauges.
    #[command(after_help = SHOW_EXAMPLES)]
    Show(ShowArgs),
    /// Remove segment NAME and its lock and permit files (e.g. left by a killed launcher).
    ///
    /// Refuses a file that is not a baozi-ipc segment, and a segment that a process still
    /// has open (its launcher, a worker, `show`); `--force` removes them anyway.
    #[command(after_help = CLEAN_EXAMPLES)]
    Clean(CleanArgs),
    /// List the segments in the segment folder (/dev/shm on Linux, the temp dir
    /// elsewhere), from their headers: for `show` or `clean`, after a killed launcher, say.
    #[command(after_help = LIST_EXAMPLES)]
    List,
}

#[derive(Args, Debug)]
struct NameArg {
    /// The segment's name: 1 to 100 ASCII letters, digits, '-' or '_'.
    #[arg(value_parser = parse_name)]
    name: String,
}

/// Who may use a new segment's files besides you.
#[derive(Args, Debug, Clone, Copy)]
struct SharingArg {
    /// Let your group read and write the segment, its lock and permit files too (mode
    /// 0660). Without it they are yours only (0600), whatever the umask. Unix only: on
    /// Windows they are in your own temp dir.
    #[arg(long)]
    shared_with_group: bool,
}

impl SharingArg {
    fn sharing(self) -> ipc::segment::Sharing {
        if self.shared_with_group {
            ipc::segment::Sharing::Group
        } else {
            ipc::segment::Sharing::Owner
        }
    }
}

#[derive(Args, Debug)]
struct CleanArgs {
    #[command(flatten)]
    name: NameArg,

    /// Remove the files even if they are not a segment, or a process still has the segment
    /// open (links are removed, never what they point to).
    #[arg(long)]
    force: bool,
}

fn parse_name(s: &str) -> Result<String, String> {
    ipc::addr::check_segment_name(s).map(|()| s.to_owned())
}

/// How a worker guards its read-modify-write of the count.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LockMode {
    /// An OS file lock (flock / LockFileEx): exact, and released if its holder dies.
    File,
    /// No lock: read, yield, write. Updates get lost; the tutorial's warning, made visible.
    None,
}

impl LockMode {
    fn arg(self) -> &'static str {
        match self {
            LockMode::File => "file",
            LockMode::None => "none",
        }
    }
}

/// What each worker of `run` and `work` does.
#[derive(Args, Debug, Clone)]
struct WorkOpts {
    /// How many times each worker decrements the count by one.
    #[arg(short, long, default_value_t = 1, value_name = "K")]
    decrements: u64,

    /// How the read-modify-write is guarded.
    #[arg(long, value_enum, default_value_t = LockMode::File)]
    lock: LockMode,

    /// Pause between decrements, outside the lock (e.g. 1ms, 100ms).
    #[arg(long, default_value = "0", value_name = "DURATION", value_parser = parse_duration)]
    pause: Duration,

    /// Print no line per decrement.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// How many worker processes to start.
    #[arg(short, long, default_value_t = 20, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=layout::MAX_SLOTS))]
    workers: u64,

    /// The count's initial value (default: workers x decrements, so that it ends at 0).
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    value: Option<i64>,

    /// The segment's name (default: run-PID).
    #[arg(long, value_parser = parse_name)]
    name: Option<String>,

    #[command(flatten)]
    sharing: SharingArg,

    #[command(flatten)]
    work: WorkOpts,
}

/// What each worker of `semaphore` and `enter` does.
#[derive(Args, Debug, Clone)]
struct EnterOpts {
    /// How long to stay inside each time: LOW..HIGH for a random time in between (e.g.
    /// 0s..3s, 10ms..50ms), or one duration.
    #[arg(long, default_value = "0s..3s", value_name = "RANGE", value_parser = parse_duration_range)]
    stay: DurationRange,

    /// How many times each worker goes inside.
    #[arg(long, default_value_t = 1, value_name = "N")]
    times: u64,

    /// Print no line per wait, entry and leaving (the totals and any problem still are).
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct SemaphoreArgs {
    /// How many worker processes to start.
    #[arg(short, long, default_value_t = 13, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=layout::MAX_SLOTS))]
    workers: u64,

    /// At most this many workers inside at once (K).
    #[arg(short = 'k', long, default_value_t = 5, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=layout::MAX_PERMITS))]
    permits: u64,

    /// The segment's name (default: sem-PID).
    #[arg(long, value_parser = parse_name)]
    name: Option<String>,

    #[command(flatten)]
    sharing: SharingArg,

    #[command(flatten)]
    enter: EnterOpts,

    /// Also draw who waited and who was inside when, and how many were inside over time,
    /// as an SVG picture (open it in a browser).
    #[arg(long, value_name = "FILE.svg")]
    timeline: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct InitArgs {
    #[command(flatten)]
    name: NameArg,

    /// The count's initial value [default: 20, or no count at all with --permits and no
    /// --value].
    #[arg(long, value_name = "V", allow_negative_numbers = true)]
    value: Option<i64>,

    /// How many workers (`work` or `enter` processes) may ever use the segment.
    #[arg(long, default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=layout::MAX_SLOTS))]
    slots: u64,

    /// Permits of the segment's semaphore (K), for `enter`; 0 for none.
    #[arg(short = 'k', long, default_value_t = 0, value_name = "K",
          value_parser = clap::value_parser!(u64).range(0..=layout::MAX_PERMITS))]
    permits: u64,

    #[command(flatten)]
    sharing: SharingArg,
}

#[derive(Args, Debug)]
struct WorkArgs {
    #[command(flatten)]
    name: NameArg,

    #[command(flatten)]
    work: WorkOpts,

    /// (For tests.) Stay inside the lock this long after storing the count and before
    /// recording the decrement as completed: the worst moment to be killed.
    #[arg(long, hide = true, value_name = "DURATION", value_parser = parse_duration)]
    linger: Option<Duration>,

    /// (For launchers.) The launcher's pid: stop, quietly, when it is gone (stdin closes,
    /// or on Unix it is no longer our parent).
    #[arg(long, hide = true, value_name = "PID")]
    launcher: Option<u32>,
}

#[derive(Args, Debug)]
struct EnterArgs {
    #[command(flatten)]
    name: NameArg,

    #[command(flatten)]
    enter: EnterOpts,

    /// (For launchers.) The launcher's pid: stop, quietly, when it is gone (stdin closes,
    /// or on Unix it is no longer our parent).
    #[arg(long, hide = true, value_name = "PID")]
    launcher: Option<u32>,

    /// (For launchers.) Append this worker's events to FILE, for `--timeline`.
    #[arg(long, hide = true, value_name = "FILE")]
    events: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
struct ShowArgs {
    #[command(flatten)]
    name: NameArg,

    /// Also print one line per worker slot.
    #[arg(short, long)]
    workers: bool,
}

const EXAMPLES: &str = "\
Examples:
  counter run                                    # 20 workers x 1 decrement: 20 -> 0
  counter run --decrements 200 --lock none -q    # lost updates
  counter semaphore --workers 13 --permits 5 --stay 0s..3s
  counter init demo --value 100 --permits 2      # then, in other terminals:
  counter work demo --decrements 50 --pause 100ms
  counter enter demo --stay 5s
  counter show demo
  counter clean demo

`counter SUBCOMMAND --help` has examples for each.";

const RUN_EXAMPLES: &str = "\
Examples:
  counter run                                    # 20 workers x 1 decrement: 20 -> 0
  counter run --workers 20 --decrements 1000 -q  # exact under the lock, or it fails
  counter run --decrements 200 --lock none -q    # without the lock: lost updates
  counter run --name demo --shared-with-group    # your group may `counter show demo`";

const SEMAPHORE_EXAMPLES: &str = "\
Examples:
  counter semaphore                              # 13 workers, 5 permits, stays of 0-3 s
  counter semaphore --stay 0..300ms              # the same, quicker
  counter semaphore --workers 20 -k 2 --stay 10ms --times 5";

const INIT_EXAMPLES: &str = "\
Examples:
  counter init demo --value 100                  # a count, for `counter work demo`
  counter init gate --permits 1                  # permits only, for `counter enter gate`
  counter init both --value 100 --permits 2      # both
  counter init team --shared-with-group          # mode 0660 instead of 0600";

const WORK_EXAMPLES: &str = "\
Examples:
  counter work demo                              # one decrement, under the lock
  counter work demo --decrements 50 --pause 100ms
  counter work demo --decrements 1000 --lock none -q";

const ENTER_EXAMPLES: &str = "\
Examples:
  counter enter gate --stay 60s                  # waits for a permit, stays, leaves
  counter enter gate --stay 10ms..50ms --times 3";

const SHOW_EXAMPLES: &str = "\
Examples:
  counter show demo                              # count: 0 ... expected: 0 (exact)
  counter show demo --workers                    # and a line per worker slot";

const LIST_EXAMPLES: &str = "\
Examples:
  counter list                                   # demo: 1024 worker slots, 0 permits";

const CLEAN_EXAMPLES: &str = "\
Examples:
  counter clean demo                             # refuses if it is in use or not a segment
  counter clean demo --force                     # removes the files whatever they are";

fn main() -> ExitCode {
    let cli = common::cli::parse::<Cli>();
    // A launcher's worker: the launcher prints the one "interrupted" line for all. Set
    // before the Ctrl-C handler is installed, so no moment of a worker's life prints one.
    if let Command::Work(WorkArgs {
        launcher: Some(_), ..
    })
    | Command::Enter(EnterArgs {
        launcher: Some(_), ..
    }) = &cli.command
    {
        ipc::shutdown::quiet();
    }
    common::cli::main("counter", || match cli.command {
        Command::Run(a) => count::run(&a),
        Command::Semaphore(a) => sem::run(&a),
        Command::Init(a) => count::init(&a),
        Command::Work(a) => count::work(&a),
        Command::Enter(a) => sem::enter(&a),
        Command::Show(a) => count::show(&a),
        Command::Clean(a) => count::clean(&a),
        Command::List => list::list(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
