//! Values people type and read: durations, sizes, duration ranges, counts of things. A leaf:
//! it imports nothing from this crate, so every layer can use it.
//!
//! Also two small tools the programs share: [`XorShift`] (random pauses, no crate needed)
//! and [`Backoff`] (the pause between retries while a peer is not there yet).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    let d = Duration::try_from_secs_f64(value * scale).map_err(|e| format!("'{s}': {e}"))?;
    if d > MAX_DURATION {
        return Err(format!(
            "'{s}' is longer than 100 years; use 0 where it means none"
        ));
    }
    Ok(d)
}

/// The longest duration accepted: far beyond any wait, and far from where adding it to
/// the clock would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

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

/// `n` and a noun, singular or plural: `1 item`, `2 items`. `noun` is the singular; an `s`
/// makes the plural (see [`count_as`] for the others).
pub fn count(n: u64, noun: &str) -> String {
    count_as(n, noun, &format!("{noun}s"))
}

/// `n` with its singular or plural, given both: `1 entry`, `3 entries`.
pub fn count_as(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A rate for people: `n` things in `secs`, per second, as `12 items/s`, `1 item/s` or,
/// below one a second, `0.42 items/s` (never a rounded `0`).
pub fn rate(n: u64, secs: f64, one: &str, many: &str) -> String {
    let r = n as f64 / secs.max(1e-9);
    if n == 0 {
        format!("0 {many}/s")
    } else if r >= 9.95 {
        format!("{r:.0} {}/s", if r.round() == 1.0 { one } else { many })
    } else if r >= 0.995 {
        let shown = format!("{r:.1}");
        let shown = shown.strip_suffix(".0").unwrap_or(&shown);
        format!("{shown} {}/s", if shown == "1" { one } else { many })
    } else {
        // Two significant digits: 0.42, 0.031.
        let decimals = (1.0 - r.log10().floor()).clamp(2.0, 12.0) as usize;
        let shown = format!("{r:.decimals$}");
        format!("{} {many}/s", shown.trim_end_matches('0'))
    }
}

/// Text a peer sent, made safe to print on one line: control characters (newlines,
/// terminal escape sequences) are shown escaped, so a peer cannot forge lines or drive the
/// terminal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` bytes of what a peer sent, escaped, with how many more there were: an
/// error that quotes a peer quotes a bounded excerpt.
pub fn excerpt(bytes: &[u8], max: usize) -> String {
    let shown = &bytes[..bytes.len().min(max)];
    let text: String = shown
        .iter()
        .flat_map(|b| b.escape_ascii())
        .map(char::from)
        .collect();
    if bytes.len() > max {
        format!("{text}... ({} more bytes)", bytes.len() - max)
    } else {
        text
    }
}

/// A pause drawn at random from `LOW..HIGH`, or one fixed duration: the tutorial's
/// `random.randint(1, 3)` seconds between items, or how long a worker stays inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DurationRange {
    pub low: Duration,
    pub high: Duration,
}

impl DurationRange {
    /// One fixed duration.
    pub fn fixed(d: Duration) -> DurationRange {
        DurationRange { low: d, high: d }
    }

    pub fn is_zero(self) -> bool {
        self.high.is_zero()
    }

    /// A duration in the range, to the microsecond.
    pub fn pick(self, rng: &mut XorShift) -> Duration {
        let span = u64::try_from((self.high - self.low).as_micros()).unwrap_or(u64::MAX);
        self.low + Duration::from_micros(rng.next() % span.saturating_add(1))
    }
}

/// Parses `1s..3s`, `0..300ms` (the low end takes the high end's unit when it has none)
/// or one duration.
pub fn parse_duration_range(s: &str) -> Result<DurationRange, String> {
    let (low, high) = match s.split_once("..") {
        Some((a, b)) => {
            let high = parse_duration(b)?;
            let unit = b.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            let low = if a.chars().all(|c| c.is_ascii_digit() || c == '.') && !a.is_empty() {
                parse_duration(&format!("{a}{unit}"))?
            } else {
                parse_duration(a)?
            };
            (low, high)
        }
        None => {
            let d = parse_duration(s).map_err(|e| match s.split_once('-') {
                // `1s-3s` or `1-3s`: a range, written the way the shell would not mangle.
                Some((a, b)) if !a.is_empty() && parse_duration(b).is_ok() => {
                    format!("'{s}': a range is written with two dots, {a}..{b}")
                }
                _ => e,
            })?;
            (d, d)
        }
    };
    if low > high {
        return Err(format!("'{s}': the low end is above the high end"));
    }
    Ok(DurationRange { low, high })
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.low == self.high {
            f.write_str(&show_duration(self.low))
        } else {
            write!(
                f,
                "{}..{}",
                show_duration(self.low),
                show_duration(self.high)
            )
        }
    }
}

/// A tiny xorshift64 generator for random pauses, seeded from the pid and the clock. Not
/// for anything that needs real randomness.
#[derive(Debug)]
pub struct XorShift(u64);

impl XorShift {
    pub fn seeded() -> XorShift {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let seed = nanos ^ u64::from(std::process::id()).rotate_left(32) ^ 0x9E37_79B9_7F4A_7C15;
        XorShift(seed | 1)
    }

    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Pauses between retries while a peer is not there yet: 250 us, doubling up to 50 ms, never
/// past a deadline. One policy for every retrying connect.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: Duration::from_micros(250),
        }
    }
}

impl Backoff {
    /// Sleeps the next pause, but not past `left`.
    pub fn pause(&mut self, left: Duration) {
        std::thread::sleep(self.next.min(left));
        self.next = (self.next * 2).min(Duration::from_millis(50));
    }
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
        for bad in [
            "",
            "s",
            "1x",
            "-1s",
            "1.2.3s",
            "10000000000000000000",
            "999999h",
        ] {
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
    fn peers_text_is_escaped_and_bounded() {
        assert_eq!(
            escape("p1\nc1 received baozi 0"),
            "p1\\nc1 received baozi 0"
        );
        assert_eq!(escape("\u{1b}[2Jred"), "\\u{1b}[2Jred");
        assert_eq!(escape("包子"), "包子");
        assert_eq!(excerpt(b"BAOZIIPC\x02", 40), "BAOZIIPC\\x02");
        assert_eq!(excerpt(&[b'a'; 100], 3), "aaa... (97 more bytes)");
    }

    #[test]
    fn rates_below_one_a_second_are_not_zero() {
        let r = |n, secs| rate(n, secs, "item", "items");
        assert_eq!(r(14, 33.04), "0.42 items/s");
        assert_eq!(r(1, 1.0), "1 item/s");
        assert_eq!(r(3, 2.0), "1.5 items/s");
        assert_eq!(r(6, 3.0), "2 items/s");
        assert_eq!(r(1000, 0.5), "2000 items/s");
        assert_eq!(r(0, 2.0), "0 items/s");
        assert_eq!(r(1, 10.0), "0.1 items/s");
        assert_eq!(r(1, 1000.0), "0.001 items/s");
        assert_eq!(r(1, 32.0), "0.031 items/s");
    }

    #[test]
    fn counts_are_singular_or_plural() {
        assert_eq!(count(1, "item"), "1 item");
        assert_eq!(count(0, "item"), "0 items");
        assert_eq!(count(2, "consumer"), "2 consumers");
        assert_eq!(count_as(3, "entry", "entries"), "3 entries");
        assert_eq!(count_as(1, "entry", "entries"), "1 entry");
    }

    #[test]
    fn a_range_with_a_dash_is_told_the_two_dots() {
        for (bad, fix) in [("1s-3s", "1s..3s"), ("1-3s", "1..3s")] {
            let e = parse_duration_range(bad).unwrap_err();
            assert!(e.contains(&format!("written with two dots, {fix}")), "{e}");
            assert!(parse_duration_range(fix).is_ok());
        }
        assert!(
            !parse_duration_range("-3s")
                .unwrap_err()
                .contains("two dots")
        );
    }

    #[test]
    fn ranges_parse_show_and_pick_within() {
        let r = parse_duration_range("1s..3s").unwrap();
        assert_eq!(
            (r.low, r.high),
            (Duration::from_secs(1), Duration::from_secs(3))
        );
        assert_eq!(r.to_string(), "1s..3s");
        let r = parse_duration_range("0..300ms").unwrap();
        assert_eq!(
            (r.low, r.high),
            (Duration::ZERO, Duration::from_millis(300))
        );
        assert_eq!(parse_duration_range("7ms").unwrap().to_string(), "7ms");
        assert!(parse_duration_range("3s..1s").is_err());
        assert!(parse_duration_range("1s..x").is_err());

        let mut rng = XorShift::seeded();
        let r = DurationRange {
            low: Duration::from_micros(1500),
            high: Duration::from_micros(2500),
        };
        let picks: Vec<_> = (0..1000).map(|_| r.pick(&mut rng)).collect();
        assert!(picks.iter().all(|d| (r.low..=r.high).contains(d)));
        assert!(picks.iter().any(|d| *d < Duration::from_micros(1700)));
        assert!(picks.iter().any(|d| *d > Duration::from_micros(2300)));
        let fixed = DurationRange::fixed(Duration::from_millis(7));
        assert_eq!(fixed.pick(&mut rng), Duration::from_millis(7));
    }
}
