//! The top layer, imported by binaries only: the options several command lines share, the
//! lines a program prints about waiting, and [`main`], which turns a `run` function into an
//! exit code. Nothing in this crate imports it.

use crate::msg::Role;
use crate::wire::{self, Session};
use clap::Args;
use ipc::addr::Address;
use ipc::shutdown;
use ipc::transport::{self, Access, Listener};
use ipc::units::{parse_duration, show_duration};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// The error type of the binaries' `run` functions: anything, shown as one line.
pub use crate::Error;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Who may talk to us over `local:` and `unix:` sockets; flattened into every program's
/// command line.
#[derive(Args, Debug, Clone, Copy)]
pub struct Peers {
    /// Talk to processes of any local user over local: and unix: sockets. By default only
    /// this user's own processes are let through (the kernel says who the peer is), and a
    /// unix: socket file is made owner-only; with this it is made 0666.
    #[arg(long)]
    pub any_user: bool,
}

impl Peers {
    pub fn access(self) -> Access {
        if self.any_user {
            Access::AnyUser
        } else {
            Access::OwnUser
        }
    }
}

/// `-l`/`--listen` on a program that always listens (the server, the broker): accepted and
/// ignored, hidden from `--help`, so that a habit from the producer and consumer (or `nc`)
/// is not an error.
#[derive(Args, Debug, Clone, Copy)]
pub struct AlwaysListens {
    /// Accepted for habit's sake: this program always listens.
    #[arg(short, long, hide = true)]
    pub listen: bool,
}

/// Where a producer or consumer talks: `nc`-style, connect by default, `-l` to listen.
#[derive(Args, Debug, Clone)]
pub struct Endpoint {
    /// Where to connect, or with -l where to listen: stdio, local:NAME, shm:NAME (shared
    /// memory), unix:PATH or tcp:HOST:PORT (IPv6 in brackets: tcp:[::1]:9000).
    #[arg(default_value = "local:baozi", value_name = "ADDRESS")]
    pub address: Address,

    /// Listen at ADDRESS and wait for the other side to connect, instead of connecting.
    /// Prints "ready: ADDRESS" on stderr once it accepts connections.
    #[arg(short, long)]
    pub listen: bool,

    /// How long to keep retrying to connect while nobody listens yet (e.g. 10s, 500ms, 0).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Duration,

    #[command(flatten)]
    pub peers: Peers,

    #[command(flatten)]
    pub verbose: Verbose,
}

impl Endpoint {
    /// Opens the one conversation this endpoint describes, through the handshake: as `me`,
    /// with a peer playing one of `accept`. Listening, it prints the ready line and takes
    /// the first peer that greets properly: a connection that says nothing (a port scan, a
    /// liveness probe) or is not ours is told in one line and the next one is awaited.
    /// Connecting, it retries for `--wait`, and a wrong peer is an error.
    pub fn open_session(&self, who: &str, me: Role, accept: &[Role]) -> Result<Session> {
        if self.listen {
            if self.address == Address::Stdio {
                return Err(
                    "stdio is already connected; there is nothing to listen on (drop -l)".into(),
                );
            }
            let addr = &self.address;
            let listener = transport::listen(addr, self.peers.access(), || say_closing(who, addr))?;
            accept_session(listener, who, me, accept)
        } else {
            let wait = self.wait;
            let addr = &self.address;
            let access = self.peers.access();
            let conn = transport::connect(addr, wait, access, || say_waiting(who, addr, wait))?;
            Ok(wire::handshake(conn, me, accept)?)
        }
    }
}

/// The next connection on `listener` that passes the handshake; the others are told in one
/// line each and dropped. Only the listener failing ends it. Each connection is greeted on
/// a thread of its own, so one peer's silence holds up nobody else (see [`Greeter`]).
/// Prints the ready line first.
pub fn accept_session(listener: Listener, who: &str, me: Role, accept: &[Role]) -> Result<Session> {
    Greeter::start(listener, who, me, accept)?.next()
}

/// A listener's greeter: accepts connections on a thread of its own and greets each on
/// another, so that a peer that says nothing (a port scan, a probe, a stranger; it has
/// [`wire::GREETING_TIMEOUT`]) holds up neither the next connection nor the program.
/// [`Greeter::next`] gives the sessions that passed the handshake, in the order they did;
/// the others are told in one line each. Dropped, it stops listening: the address is
/// closed (a `unix:` socket file removed) as when a listener is dropped.
pub struct Greeter {
    sessions: mpsc::Receiver<Result<Session>>,
    done: Arc<AtomicBool>,
    addr: Address,
}

impl Greeter {
    /// Starts accepting on `listener`: as `me`, with peers playing one of `accept`; then
    /// prints the ready line (so that its accepting thread is there once the line is).
    pub fn start(listener: Listener, who: &str, me: Role, accept: &[Role]) -> Result<Greeter> {
        let (tx, sessions) = mpsc::channel();
        let done = Arc::new(AtomicBool::new(false));
        let addr = listener.address().clone();
        let (who, accept, stop) = (who.to_owned(), accept.to_vec(), Arc::clone(&done));
        std::thread::Builder::new()
            .name(format!("accept {addr}"))
            .spawn(move || greet_all(&listener, &who, me, &accept, &tx, &stop))
            .map_err(|e| format!("cannot start a thread to listen on {addr}: {e}"))?;
        transport::announce(&addr);
        Ok(Greeter {
            sessions,
            done,
            addr,
        })
    }

    /// The next session that passed the handshake; an error only when the listener failed.
    pub fn next(&self) -> Result<Session> {
        self.sessions
            .recv()
            .unwrap_or_else(|_| Err("the listening thread ended".into()))
    }
}

impl Drop for Greeter {
    /// Stops the accepting thread: it is blocked in accept, so it is woken by a connection
    /// of our own ([`transport::knock`]), which it drops, and then it drops the listener.
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        let mut addr = self.addr.clone();
        if let Address::Tcp { host, .. } = &mut addr
            && host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
        {
            *host = if host.contains(':') {
                "::1"
            } else {
                "127.0.0.1"
            }
            .to_owned();
        }
        transport::knock(&addr);
    }
}

/// The greeter's accepting thread: a greeting thread per connection, until `done` or the
/// listener fails (told to [`Greeter::next`]).
fn greet_all(
    listener: &Listener,
    who: &str,
    me: Role,
    accept: &[Role],
    tx: &mpsc::Sender<Result<Session>>,
    done: &AtomicBool,
) {
    loop {
        let conn = match listener.accept_own(who) {
            Ok(conn) => conn,
            Err(e) => {
                let _ = tx.send(Err(
                    format!("cannot accept on {}: {e}", listener.address()).into()
                ));
                return;
            }
        };
        if done.load(Ordering::SeqCst) {
            return;
        }
        let peer = conn.peer().to_owned();
        let (tx, accept, who_) = (tx.clone(), accept.to_vec(), who.to_owned());
        let greeted = std::thread::Builder::new()
            .name(format!("greet {peer}"))
            .spawn(move || match wire::handshake(conn, me, &accept) {
                Ok(session) => {
                    let _ = tx.send(Ok(session));
                }
                Err(e) => ipc::elog!("{who_}: ignored a connection from {}: {e}", peer),
            });
        if let Err(e) = greeted {
            ipc::elog!(
                "{who}: error: dropped a connection: cannot start a thread to greet it: {e}"
            );
        }
    }
}

/// Prints the line of a listener whose TCP port is held only by closing connections (see
/// [`transport::listen`]), before it waits for the port.
pub fn say_closing(who: &str, addr: &Address) {
    ipc::elog!(
        "{who}: no process holds {addr}, but connections of a program that ended are still \
         closing there (TCP TIME-WAIT; it did not set SO_REUSEADDR): waiting for the system \
         to free the port (up to {}; Ctrl-C to give up, or use another port)",
        show_duration(transport::TIME_WAIT_MAX)
    );
}

/// Prints the `waiting for ADDRESS` line of a program that has to wait for its peer.
pub fn say_waiting(who: &str, addr: &Address, wait: Duration) {
    ipc::elog!("{who}: waiting for {addr} (up to {})", show_duration(wait));
}

/// Parses the command line of `C`; but `PROGRAM --generate KIND DIR` (hidden, used by
/// `scripts/install.sh`) writes this program's man pages (`man`: DIR/PROGRAM.1, and
/// DIR/PROGRAM-SUBCOMMAND.1 for each subcommand it names) or its completions for a shell
/// (`bash`, `zsh`, `fish`, `powershell`) into DIR, made from the same clap definitions as
/// `--help`, prints the files' paths and exits.
pub fn parse<C: clap::Parser>() -> C {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "--generate") {
        let command = C::command();
        let name = command.get_name().to_owned();
        let (kind, dir) = match (args.get(2).and_then(|k| k.to_str()), args.get(3)) {
            (Some(kind), Some(dir)) if args.len() == 4 => (kind, std::path::Path::new(dir)),
            _ => {
                ipc::elog!(
                    "{name}: error: usage: {name} --generate {{man,bash,zsh,fish,powershell}} DIR"
                );
                std::process::exit(2);
            }
        };
        match generate(command, &name, kind, dir) {
            Ok(paths) => {
                for path in paths {
                    ipc::elog!("{name}: wrote {}", path.display());
                }
                std::process::exit(0);
            }
            Err(e) => {
                ipc::elog!(
                    "{name}: error: cannot generate {kind} into {}: {e}",
                    dir.display()
                );
                std::process::exit(1);
            }
        }
    }
    let matches = C::command().get_matches();
    // `-v` (a flattened [`Verbose`]) turns the trace on for the whole process.
    if let Ok(Some(true)) = matches.try_get_one::<bool>("verbose") {
        ipc::say::set_verbose(true);
    }
    C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// `-v`: flattened into the command line of every program that talks over a connection;
/// [`parse`] reads it.
#[derive(Args, Debug, Clone, Copy)]
pub struct Verbose {
    /// Trace on stderr, like socat -v: connections made and accepted (`* ...`), and every
    /// frame or line sent (`> ...`) and received (`< ...`).
    #[arg(short, long)]
    pub verbose: bool,
}

/// Writes the man pages or the completions of `command` into `dir`; see [`parse`].
fn generate(
    command: clap::Command,
    name: &str,
    kind: &str,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>> {
    use clap_complete::Shell;
    std::fs::create_dir_all(dir)?;
    let shell = match kind {
        "man" => {
            let mut command = command.disable_help_subcommand(true);
            command.build();
            let mut written = Vec::new();
            let source = format!("{name} {}", command.get_version().unwrap_or_default());
            man_pages(&command, &source, dir, &mut written)?;
            return Ok(written);
        }
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "powershell" => Shell::PowerShell,
        _ => {
            return Err(format!("unknown kind '{kind}' (man, bash, zsh, fish, powershell)").into());
        }
    };
    let mut command = with_address_examples(command);
    Ok(vec![clap_complete::generate_to(
        shell,
        &mut command,
        name,
        dir,
    )?])
}

/// Writes the man page of `command` (built) and of each subcommand it lists, as
/// `clap_mangen::generate_to` would (`counter-run.1`, named in `counter.1`), each with the
/// program's name and version at its foot (`source`) and its backticks made bold.
fn man_pages(
    command: &clap::Command,
    source: &str,
    dir: &std::path::Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let man = clap_mangen::Man::new(command.clone()).source(source);
    let mut page = Vec::new();
    man.render(&mut page)?;
    let path = dir.join(man.get_filename());
    std::fs::write(&path, man_text(&String::from_utf8_lossy(&page)))?;
    written.push(path);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        man_pages(sub, source, dir, written)?;
    }
    Ok(())
}

/// A rendered man page without Markdown: the doc comments' `code` spans, literal in the
/// roff clap_mangen writes, become bold; a line with an odd number of backticks loses them.
fn man_text(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for line in roff.lines() {
        let ticks = line.matches('`').count();
        if line.starts_with(['.', '\'']) || ticks % 2 == 1 {
            out.push_str(&line.replace('`', ""));
        } else {
            let mut open = false;
            for (i, part) in line.split('`').enumerate() {
                if i > 0 {
                    out.push_str(if open { "\\fR" } else { "\\fB" });
                    open = !open;
                }
                out.push_str(part);
            }
        }
        out.push('\n');
    }
    out
}

/// `command` with each ADDRESS argument given the addresses its own examples use (its
/// default first) as possible values, for the shells' completions only (parsing never
/// sees them): `producer <TAB>` offers `local:baozi`, `stdio`, `tcp:127.0.0.1:9000`, ...
/// zsh and bash offer them (bash from the first letters only: it splits words at `:`);
/// fish and PowerShell, as clap_complete writes them, complete options only.
fn with_address_examples(command: clap::Command) -> clap::Command {
    let examples = command
        .get_after_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    let command = command.mut_args(|arg| {
        if arg
            .get_value_names()
            .is_none_or(|v| v.iter().all(|n| n != "ADDRESS"))
        {
            return arg;
        }
        let defaults = arg.get_default_values().iter().filter_map(|d| d.to_str());
        let mut forms: Vec<&'static str> = Vec::new();
        for word in defaults.chain(examples.split_whitespace()) {
            let word = word.trim_matches(|c: char| ",;:`'\"()".contains(c));
            if (word == "stdio" || word.contains(':'))
                && word.parse::<Address>().is_ok()
                && !forms.contains(&word)
            {
                // Without clap's `string` feature a possible value is a `&'static str`;
                // the process ends once the completions are written.
                forms.push(Box::leak(word.to_owned().into_boxed_str()));
            }
        }
        if forms.is_empty() {
            return arg;
        }
        arg.value_parser(clap::builder::PossibleValuesParser::new(forms))
            .value_hint(clap::ValueHint::Other)
    });
    command.mut_subcommands(with_address_examples)
}

/// Runs a binary's body: installs Ctrl-C handling, and prints an error as one line
/// (`program: error: what: why`) with exit code 1.
pub fn main(program: &'static str, body: impl FnOnce() -> Result<ExitCode>) -> ExitCode {
    if let Err(e) = shutdown::install(program) {
        ipc::elog!("{program}: error: cannot install the Ctrl-C handler: {e}");
        return ExitCode::FAILURE;
    }
    let result = body();
    // Files still on the list belong to threads that never return (a listener blocked in
    // accept): they go now, as on a signal.
    shutdown::remove_files();
    match result {
        Ok(code) => code,
        // Stdout's reader has gone (`| head`): the end of our output, not a failure.
        Err(e) if ipc::say::is_stdout_closed(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            print_error(program, &*e);
            ExitCode::FAILURE
        }
    }
}

/// An error and its sources, joined with ": ". Errors here never show their source in
/// their own `Display` as well (the one rule), so nothing repeats.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Prints an error as the one line every program uses: `program: error: what: why`.
pub fn print_error(program: &str, e: &(dyn std::error::Error + 'static)) {
    ipc::elog!("{program}: error: {}", chain(e));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_are_one_line() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("cannot connect")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("refused"));
        assert_eq!(chain(&e), "cannot connect: refused");
    }
}
