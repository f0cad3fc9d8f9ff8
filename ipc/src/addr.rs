//! The one address grammar, parsed here and nowhere else.
//!
//! | form            | meaning                                                          |
//! |-----------------|------------------------------------------------------------------|
//! | `stdio`         | standard input / output: the anonymous pipe a shell or parent set up |
//! | `local:NAME`    | a namespaced local socket: abstract Unix socket on Linux, `\\.\pipe\NAME` on Windows |
//! | `unix:PATH`     | a Unix socket file (Unix only)                                   |
//! | `shm:NAME`      | shared-memory rings, found through a local rendezvous named NAME (Linux, Windows) |
//! | `tcp:HOST:PORT` | TCP; `tcp:127.0.0.1:9000`, `tcp:[::1]:9000`, `tcp:localhost:9000` |
//! | `udp:HOST:PORT` | UDP datagrams, same host rules as `tcp:` (the echo server and client only) |
//! | `redis://[[USER]:PASSWORD@]HOST[:PORT]/QUEUE` | a queue on a Redis server, as a stream of that name (producer and consumer only; port 6379 by default; `AUTH` with the password, or with `REDISCLI_AUTH` when none is given; the password is never printed) |
//!
//! The same string parses to the same [`Address`] in every binary, and [`Address`] prints
//! back in the same form, so a ready line can be pasted into another program's command line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The accepted forms, for error messages and `--help`.
pub const FORMS: &str = "stdio, local:NAME, shm:NAME, unix:PATH, tcp:HOST:PORT, udp:HOST:PORT, redis://HOST[:PORT]/QUEUE";

/// The port of `redis://HOST/QUEUE`, as Redis users expect.
pub const REDIS_PORT: u16 = 6379;

/// Where a program reads from, writes to, listens or connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// Standard input and standard output of this process.
    Stdio,
    /// A namespaced local socket (interprocess `GenericNamespaced`).
    Local(String),
    /// A Unix domain socket at a filesystem path.
    Unix(PathBuf),
    /// A stream through shared memory; the name ([`check_segment_name`]) is where the two
    /// sides meet.
    Shm(String),
    /// TCP; `host` is a name, an IPv4 address, or an IPv6 address without brackets.
    Tcp { host: String, port: u16 },
    /// UDP datagrams; the same host rules as [`Address::Tcp`]. Not a stream: only programs
    /// that speak in datagrams (the echo server and client) accept it.
    Udp { host: String, port: u16 },
    /// A queue kept by a Redis server: the stream named `queue` and its companion keys
    /// (`common::redisq` says which). Not a byte stream: only the producer and the consumer
    /// accept it, and they connect to it.
    Redis {
        host: String,
        port: u16,
        queue: String,
        /// `USER:PASSWORD@`; only the user is part of the address's identity.
        auth: Credentials,
    },
}

/// The credentials of a `redis://` address, if any (boxed: most addresses have none, and
/// an address travels in every transport error). Two compare equal when their users do:
/// the password is never shown, so it cannot be part of an address's identity, or an
/// address with one would not print back as itself.
#[derive(Clone, Debug, Default)]
pub struct Credentials(pub Option<Box<RedisAuth>>);

impl Credentials {
    /// The ACL user, if one is named.
    pub fn user(&self) -> Option<&str> {
        self.0.as_ref().and_then(|a| a.user.as_deref())
    }

    /// The password, if the address gave one.
    pub fn password(&self) -> Option<&Secret> {
        self.0.as_ref().and_then(|a| a.password.as_ref())
    }
}

impl PartialEq for Credentials {
    fn eq(&self, other: &Credentials) -> bool {
        self.user() == other.user()
    }
}

impl Eq for Credentials {}

/// Who to be on a Redis server: `redis://[[USER]:PASSWORD@]HOST...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisAuth {
    /// An ACL user (`None`: Redis's `default`).
    pub user: Option<String>,
    /// Percent-decoded. Never printed; `None`: from `REDISCLI_AUTH`, if set.
    pub password: Option<Secret>,
}

/// A password in an address: never shown (`Debug` and `Display` print `***`) and never
/// part of an address's identity (any two compare equal), so that an address printed
/// without it still parses back to the same address.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }

    /// The password itself, to send to the server and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl PartialEq for Secret {
    fn eq(&self, _: &Secret) -> bool {
        true
    }
}

impl Eq for Secret {}

/// `input` as an error may quote it: the password of `SCHEME://USER:PASSWORD@...` as `***`.
fn redact(input: &str) -> String {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.to_owned();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once('@') {
        Some((creds, _)) if creds.contains(':') => {
            let user = creds.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{}", &rest[creds.len() + 1..])
        }
        _ => input.to_owned(),
    }
}

/// `%XX` escapes decoded, as in a URL's user information (`p%40ss` is `p@ss`).
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            out.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Whether `name` can name a queue: 1 to 100 of `[A-Za-z0-9._-]`, so that its keys
/// (`NAME`, `NAME:ends`, ...) read plainly in `redis-cli`.
pub fn check_queue_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 100 {
        Err("a queue name has 1 to 100 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Err("a queue name is made of letters, digits, '.', '_' and '-'")
    } else {
        Ok(())
    }
}

/// Checks a segment name (`counter NAME`, and `shm:NAME`): 1 to 100 of ASCII
/// letters, digits, '-' and '_', so that it is a plain file name everywhere. No '.': a
/// segment's companion files add a `.` suffix to its file name (`baozi-NAME.lock`), so
/// with a dot allowed, segment `x.lock` would be segment `x`'s lock file.
pub fn check_segment_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "bad segment name {name:?}: use 1 to 100 ASCII letters, digits, '-' or '_'"
        ))
    }
}

/// Why a string is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrError {
    input: String,
    why: String,
    /// What the person most likely meant, when the mistake is a usual one.
    fix: Option<String>,
}

impl AddrError {
    /// What the person most likely meant, as an address that parses.
    pub fn fix(&self) -> Option<&str> {
        self.fix.as_deref()
    }
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.fix {
            Some(fix) => write!(
                f,
                "invalid address '{}': {}; did you mean {fix}?",
                self.input, self.why
            ),
            None => write!(
                f,
                "invalid address '{}': {}; accepted forms: {FORMS} (e.g. local:baozi, tcp:127.0.0.1:9000, tcp:[::1]:9000)",
                self.input, self.why
            ),
        }
    }
}

impl std::error::Error for AddrError {}

impl FromStr for Address {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        let shown = redact(input);
        let err = |why: &str| AddrError {
            input: shown.clone(),
            why: why.to_owned(),
            fix: None,
        };
        let err_fix = |why: &str, fix: String| AddrError {
            input: shown.clone(),
            why: why.to_owned(),
            fix: Some(fix).filter(|f| f.parse::<Address>().is_ok()),
        };
        if input.eq_ignore_ascii_case("stdio") {
            return Ok(Address::Stdio);
        }
        let Some((scheme, rest)) = input.split_once(':') else {
            return Err(no_scheme(input, err_fix));
        };
        // Schemes are case-insensitive (socat writes TCP:), and `tcp://` and `udp://` (URL
        // style) mean the same as `tcp:` and `udp:`.
        let scheme = scheme.to_ascii_lowercase();
        let rest = match scheme.as_str() {
            "tcp" | "udp" => rest.strip_prefix("//").unwrap_or(rest),
            _ => rest,
        };
        match scheme.as_str() {
            "local" => {
                if rest.is_empty() {
                    Err(err("empty name"))
                } else if rest.contains(['/', '\\', '\0']) {
                    Err(err("a local name cannot contain '/', '\\' or NUL"))
                } else {
                    Ok(Address::Local(rest.to_owned()))
                }
            }
            "shm" => match check_segment_name(rest) {
                Ok(()) => Ok(Address::Shm(rest.to_owned())),
                Err(_) => Err(err(
                    "a shm name is 1 to 100 ASCII letters, digits, '-' or '_'",
                )),
            },
            "unix" if cfg!(unix) => {
                if rest.is_empty() {
                    Err(err("empty path"))
                } else {
                    Ok(Address::Unix(PathBuf::from(rest)))
                }
            }
            "unix" => Err(err(
                "unix:PATH sockets are Unix-only; on Windows use local:NAME (a named pipe)",
            )),
            "redis" => {
                let rest = rest
                    .strip_prefix("//")
                    .ok_or_else(|| err("expected redis://HOST[:PORT]/QUEUE"))?;
                let (hostport, queue) = rest
                    .split_once('/')
                    .ok_or_else(|| err("no queue name: expected redis://HOST[:PORT]/QUEUE"))?;
                let (auth, hostport) = match hostport.rsplit_once('@') {
                    None => (Credentials(None), hostport),
                    Some((creds, hostport)) => {
                        let (user, password) = match creds.split_once(':') {
                            Some((user, password)) => (user, Some(password)),
                            None => (creds, None),
                        };
                        let user = if user.is_empty() {
                            None
                        } else {
                            check_queue_name(user).map_err(|_| {
                                err("a Redis user name is 1 to 100 letters, digits, '.', '_' and '-'")
                            })?;
                            Some(user.to_owned())
                        };
                        let password = match password.filter(|p| !p.is_empty()) {
                            None => None,
                            Some(p) => Some(Secret(percent_decode(p).ok_or_else(|| {
                                err("the password has a bad %-escape (write % as %25)")
                            })?)),
                        };
                        (
                            Credentials(Some(Box::new(RedisAuth { user, password }))),
                            hostport,
                        )
                    }
                };
                let (host, port) = match split_host_port(hostport) {
                    Some((host, port)) => (
                        host,
                        port.parse::<u16>()
                            .map_err(|_| err("the port must be a number from 0 to 65535"))?,
                    ),
                    None => {
                        let host = hostport
                            .strip_prefix('[')
                            .and_then(|h| h.strip_suffix(']'))
                            .unwrap_or(hostport);
                        if host.is_empty()
                            || host.contains(['[', ']', '/'])
                            || (host.contains(':') && !hostport.starts_with('['))
                        {
                            return Err(err("expected redis://HOST[:PORT]/QUEUE"));
                        }
                        (host, REDIS_PORT)
                    }
                };
                check_queue_name(queue).map_err(err)?;
                Ok(Address::Redis {
                    host: host.to_owned(),
                    port,
                    queue: queue.to_owned(),
                    auth,
                })
            }
            "tcp" | "udp" => {
                let (host, port) = split_host_port(rest)
                    .ok_or_else(|| host_port_error(&scheme, rest, err, err_fix))?;
                let port = port
                    .parse::<u16>()
                    .map_err(|_| err("the port must be a number from 0 to 65535"))?;
                let host = host.to_owned();
                Ok(if scheme == "tcp" {
                    Address::Tcp { host, port }
                } else {
                    Address::Udp { host, port }
                })
            }
            _ if scheme.is_empty() || split_host_port(input).is_some() => {
                Err(no_scheme(input, err_fix))
            }
            _ => Err(err(&format!("unknown scheme '{scheme}'"))),
        }
    }
}

/// The error for an input without a known scheme, with the fix for the usual slips:
/// `127.0.0.1:9000`, `localhost:9000`, `:9000`, `9000`, `[::1]:9000` (tcp:), `/tmp/x.sock` (unix:),
/// `baozi` (local:).
fn no_scheme(input: &str, err_fix: impl Fn(&str, String) -> AddrError) -> AddrError {
    let why = "no scheme";
    if let Some(port) = input
        .strip_prefix(':')
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return err_fix(why, format!("tcp:127.0.0.1:{port}"));
    }
    // A bare port (`consumer -l 9000`): as `nc -l 9000` means, TCP on this host.
    if input.parse::<u16>().is_ok() {
        return err_fix(why, format!("tcp:127.0.0.1:{input}"));
    }
    if split_host_port(input).is_some() {
        return err_fix(why, format!("tcp:{input}"));
    }
    if input.contains(['/', '\\']) {
        return err_fix(why, format!("unix:{input}"));
    }
    if input.contains(':') && !input.contains(['[', ']']) {
        // A bare IPv6 address and port: the last part is the port.
        if let Some((host, port)) = input.rsplit_once(':') {
            return err_fix(why, format!("tcp:[{host}]:{port}"));
        }
    }
    err_fix(why, format!("local:{input}"))
}

/// The error for a `tcp:` or `udp:` address whose `HOST:PORT` does not split, with the
/// fix: `tcp:9000` means port 9000 on this host, and an IPv6 host goes in brackets.
fn host_port_error(
    scheme: &str,
    rest: &str,
    err: impl Fn(&str) -> AddrError,
    err_fix: impl Fn(&str, String) -> AddrError,
) -> AddrError {
    if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        return err_fix("expected HOST:PORT", format!("{scheme}:127.0.0.1:{rest}"));
    }
    if let Some(port) = rest.strip_prefix(':').filter(|p| !p.contains(':')) {
        return err_fix("no host", format!("{scheme}:127.0.0.1:{port}"));
    }
    if let Some((host, port)) = rest.rsplit_once(':')
        && !rest.starts_with('[')
        && host.contains(':')
    {
        return err_fix(
            "an IPv6 host goes in brackets",
            format!("{scheme}:[{host}]:{port}"),
        );
    }
    err("expected HOST:PORT")
}

/// `HOST:PORT` or `[V6]:PORT` into host (no brackets) and port text.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':')?)
    } else {
        let (host, port) = s.rsplit_once(':')?;
        if host.contains(':') {
            return None; // a bare IPv6 address needs brackets
        }
        (host, port)
    };
    // No brackets or slashes inside a host: `tcp:[[]:1` would print as `tcp:[:1`, and
    // `tcp:////h:1` as `tcp://` and a host that reads back shorter (both found by the
    // address fuzz target).
    (!host.is_empty() && !port.is_empty() && !host.contains(['[', ']', '/']))
        .then_some((host, port))
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Stdio => f.write_str("stdio"),
            Address::Local(name) => write!(f, "local:{name}"),
            Address::Shm(name) => write!(f, "shm:{name}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Address::Udp { host, port } if host.contains(':') => write!(f, "udp:[{host}]:{port}"),
            Address::Udp { host, port } => write!(f, "udp:{host}:{port}"),
            // The user, never the password.
            Address::Redis {
                host,
                port,
                queue,
                auth,
            } => {
                f.write_str("redis://")?;
                if let Some(user) = auth.user() {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]:{port}/{queue}")
                } else {
                    write!(f, "{host}:{port}/{queue}")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Address {
        s.parse().unwrap()
    }

    #[test]
    fn segment_names() {
        for good in ["a", "demo", "run-42", "x_y-z", "A1"] {
            assert_eq!(check_segment_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a/b",
            "a\\b",
            "a\0b",
            ".",
            "..",
            "sp ace",
            "x.lock",
            "x.permit-0",
            "ü",
            &"x".repeat(101),
        ] {
            let e = check_segment_name(bad).unwrap_err();
            assert!(e.contains("letters, digits"), "{bad}: {e}");
        }
    }

    #[test]
    fn redis_credentials_are_parsed_and_the_password_never_printed() {
        let auth = |a: &Address| match a {
            Address::Redis {
                auth: Credentials(Some(auth)),
                ..
            } => (**auth).clone(),
            _ => panic!("{a:?}"),
        };
        let a = ok("redis://alice:p%40ss:w@db.example:7000/q");
        assert_eq!(auth(&a).user.as_deref(), Some("alice"));
        assert_eq!(
            auth(&a).password.as_ref().map(Secret::expose),
            Some("p@ss:w")
        );
        assert_eq!(a.to_string(), "redis://alice@db.example:7000/q");
        assert!(!format!("{a:?}").contains("p@ss"), "{a:?}");
        let a = ok("redis://:hunter2@h/q");
        assert_eq!(a.to_string(), "redis://h:6379/q");
        assert!(!format!("{a:?}").contains("hunter2"));
        let bob = auth(&ok("redis://bob@h/q"));
        assert_eq!(
            (bob.user.as_deref(), bob.password.is_none()),
            (Some("bob"), true)
        );
        for bad in ["redis://a b:x@h/q", "redis://:%4@h/q", "redis://:%zz@h/q"] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        // The password stays out of error messages too.
        let e = "redis://:s3cret@h:99999/q".parse::<Address>().unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        // Not part of its identity: an address prints back as itself without it (found by
        // the address fuzz target, `redis://:::S@;...`).
        let a = ok("redis://:pw@h/q");
        assert_eq!(a.to_string().parse::<Address>().unwrap(), a);
        assert_ne!(ok("redis://bob:pw@h/q"), ok("redis://h/q"));
    }

    #[test]
    fn parses_every_form_and_prints_it_back() {
        for s in [
            "stdio",
            "local:baozi",
            "shm:baozi_1-x",
            "tcp:127.0.0.1:9000",
            "tcp:[::1]:9000",
            "tcp:localhost:0",
            "udp:127.0.0.1:8888",
            "udp:[::1]:53",
            "udp:localhost:0",
            "redis://127.0.0.1:6379/baozi",
            "redis://[::1]:7000/q.1_x-y",
            "redis://db.example:0/q",
            "redis://alice@db.example:0/q",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
        assert_eq!(
            ok("redis://localhost/jobs"),
            Address::Redis {
                host: "localhost".into(),
                port: 6379,
                queue: "jobs".into(),
                auth: Credentials(None),
            }
        );
        assert_eq!(ok("redis://[::1]/q").to_string(), "redis://[::1]:6379/q");
        assert_eq!(
            ok("tcp:[::1]:80"),
            Address::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(ok("local:a.b-c"), Address::Local("a.b-c".into()));
        assert_eq!(ok("SHM:x"), Address::Shm("x".into()));
        assert_eq!(
            ok("udp:[::1]:9000"),
            Address::Udp {
                host: "::1".into(),
                port: 9000
            }
        );
        assert_ne!(ok("udp:h:1"), ok("tcp:h:1"));
    }

    #[cfg(unix)]
    #[test]
    fn unix_paths() {
        assert_eq!(ok("unix:/tmp/x.sock"), Address::Unix("/tmp/x.sock".into()));
        assert_eq!(ok("unix:rel/x.sock").to_string(), "unix:rel/x.sock");
    }

    #[cfg(windows)]
    #[test]
    fn unix_paths_are_refused_on_windows_with_the_alternative() {
        let e = "unix:/tmp/x".parse::<Address>().unwrap_err().to_string();
        assert!(e.contains("Unix-only") && e.contains("local:NAME"), "{e}");
    }

    #[test]
    fn errors_name_the_input_and_list_the_forms() {
        for bad in [
            "",
            "baozi",
            "local:",
            "local:a/b",
            "shm:",
            "shm:a.b",
            "shm:a/b",
            "tcp:1.2.3.4",
            "tcp::9000",
            "tcp:::1:9000",
            "tcp:h:99999",
            "tcp:h:x",
            "udpx:1",
            "tcp:[::1]9000",
            "udp:",
            "udp:1.2.3.4",
            "udp:::1:53",
            "udp:h:65536",
            "udp:[::1]",
            "redis:",
            "redis:127.0.0.1:6379/q",
            "redis://127.0.0.1:6379",
            "redis://127.0.0.1:6379/",
            "redis://:6379/q",
            "redis:///q",
            "redis://h:x/q",
            "redis://h:70000/q",
            "redis://::1/q",
            "redis://h/q/r",
            "redis://h/a b",
        ] {
            let e = bad.parse::<Address>().unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
            assert!(e.contains(FORMS) || e.contains("did you mean"), "{e}");
        }
    }

    #[test]
    fn usual_slips_are_refused_with_the_fix() {
        for (bad, fix) in [
            ("127.0.0.1:9000", "tcp:127.0.0.1:9000"),
            ("localhost:9000", "tcp:localhost:9000"),
            (":9000", "tcp:127.0.0.1:9000"),
            ("9000", "tcp:127.0.0.1:9000"),
            ("99999", "local:99999"),
            ("[::1]:9000", "tcp:[::1]:9000"),
            ("tcp:9000", "tcp:127.0.0.1:9000"),
            ("tcp::9000", "tcp:127.0.0.1:9000"),
            ("tcp:::1:9000", "tcp:[::1]:9000"),
            ("udp:::1:53", "udp:[::1]:53"),
            ("udp:53", "udp:127.0.0.1:53"),
            ("baozi", "local:baozi"),
        ] {
            let e = bad.parse::<Address>().unwrap_err();
            assert_eq!(e.fix(), Some(fix), "{bad}");
            let line = e.to_string();
            assert!(line.contains(&format!("did you mean {fix}?")), "{line}");
            assert!(!line.contains("scheme '"), "{line}");
        }
        let e = "tcp:::1:9000".parse::<Address>().unwrap_err().to_string();
        assert!(e.contains("IPv6 host goes in brackets"), "{e}");
        // Nothing sensible to suggest: no fix, the forms.
        for bad in [
            "tcp:h:x",
            "redis://h/a b",
            "tcp:localhost",
            "http://example.com/",
        ] {
            assert_eq!(bad.parse::<Address>().unwrap_err().fix(), None, "{bad}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_bare_path_suggests_unix() {
        let e = "/tmp/x.sock".parse::<Address>().unwrap_err();
        assert_eq!(e.fix(), Some("unix:/tmp/x.sock"));
    }

    #[test]
    fn url_style_and_upper_case_schemes_are_the_same_address() {
        for (s, canonical) in [
            ("tcp://127.0.0.1:9000", "tcp:127.0.0.1:9000"),
            ("TCP:127.0.0.1:9000", "tcp:127.0.0.1:9000"),
            ("Tcp://[::1]:9000", "tcp:[::1]:9000"),
            ("udp://localhost:53", "udp:localhost:53"),
            ("LOCAL:baozi", "local:baozi"),
            ("REDIS://h/q", "redis://h:6379/q"),
            ("STDIO", "stdio"),
        ] {
            assert_eq!(ok(s).to_string(), canonical, "{s}");
        }
    }
}
