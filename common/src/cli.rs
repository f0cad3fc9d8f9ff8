//! What the command lines of all binaries share: the address options, value parsers for
//! durations and sizes, and [`main`], which turns a `run` function into an exit code.

use crate::addr::Address;
use crate::shutdown;
use crate::transport::{self, Conn};
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;

/// The error type of the binaries' `run` functions: anything, shown as one line.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where a producer or consumer talks: `nc`-style, connect by default, `-l` to listen.
#[derive(Args, Debug, Clone)]
pub struct Endpoint {
    /// Where to connect, or with -l where to listen: stdio, local:NAME, unix:PATH or
    /// tcp:HOST:PORT (IPv6 in brackets: tcp:[::1]:9000).
    #[arg(default_value = "local:baozi", value_name = "ADDRESS")]
    pub address: Address,

    /// Listen at ADDRESS and wait for the other side to connect, instead of connecting.
    /// Prints "ready: ADDRESS" on stderr once it accepts connections.
    #[arg(short, long)]
    pub listen: bool,

    /// How long to keep retrying to connect while nobody listens yet (e.g. 10s, 500ms, 0).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Duration,
}

impl Endpoint {
    /// Opens the one connection this endpoint describes: accepts the first peer when
    /// listening (after the ready line), otherwise connects with retries.
    pub fn open_one(&self, who: &str) -> Result<Conn> {
        if self.listen {
            let listener = transport::listen(&self.address)?;
            listener.announce();
            Ok(listener.accept()?)
        } else {
            Ok(transport::connect(&self.address, self.wait, who)?)
        }
    }
}

/// Runs a binary's body: installs Ctrl-C handling, and prints an error as one line
/// (`program: error: what: why`) with exit code 1.
pub fn main(program: &'static str, body: impl FnOnce() -> Result<ExitCode>) -> ExitCode {
    if let Err(e) = shutdown::install(program) {
        eprintln!("{program}: error: cannot install the Ctrl-C handler: {e}");
        return ExitCode::FAILURE;
    }
    match body() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{program}: error: {}", chain(&*e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its sources, joined with ": ", skipping repeats.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

/// Parses `1s`, `250ms`, `2m`, `1.5s`, `100us`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 1s, 250ms, 2m)"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{s}' (use h, m, s, ms, us)"
            ));
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("'{s}': {e}"))
}

/// Shows a duration the way [`parse_duration`] reads it.
pub fn show_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// Parses a byte count: `100`, `64KiB`, `1MiB`, `2GiB`, also `k`/`K`/`KB`, `M`/`MB` as
/// powers of 1024.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 100, 64KiB, 1MiB)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{s}' (use KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Human-readable byte count: `512 B`, `1.5 KiB`, `3.0 MiB`.
pub fn show_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "s", "1x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(show_duration(Duration::from_secs(10)), "10s");
        assert_eq!(show_duration(Duration::from_millis(300)), "300ms");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        for bad in ["", "KiB", "1x", "-1", "99999999999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        assert_eq!(show_bytes(512), "512 B");
        assert_eq!(show_bytes(1536), "1.5 KiB");
    }

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
