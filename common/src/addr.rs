//! The one address grammar, parsed here and nowhere else.
//!
//! | form            | meaning                                                          |
//! |-----------------|------------------------------------------------------------------|
//! | `stdio`         | standard input / output: the anonymous pipe a shell or parent set up |
//! | `local:NAME`    | a namespaced local socket: abstract Unix socket on Linux, `\\.\pipe\NAME` on Windows |
//! | `unix:PATH`     | a Unix socket file (Unix only)                                   |
//! | `tcp:HOST:PORT` | TCP; `tcp:127.0.0.1:9000`, `tcp:[::1]:9000`, `tcp:localhost:9000` |
//! | `udp:HOST:PORT` | UDP datagrams, same host rules as `tcp:` (the echo server and client only) |
//! | `redis://HOST[:PORT]/QUEUE` | a queue on a Redis server, as a stream of that name (producer and consumer only; port 6379 by default) |
//!
//! The same string parses to the same [`Address`] in every binary, and [`Address`] prints
//! back in the same form, so a ready line can be pasted into another program's command line.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The accepted forms, for error messages and `--help`.
pub const FORMS: &str =
    "stdio, local:NAME, unix:PATH, tcp:HOST:PORT, udp:HOST:PORT, redis://HOST[:PORT]/QUEUE";

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
    },
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

/// Why a string is not an [`Address`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrError {
    input: String,
    why: String,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid address '{}': {}; accepted forms: {FORMS} (e.g. local:baozi, tcp:127.0.0.1:9000, tcp:[::1]:9000)",
            self.input, self.why
        )
    }
}

impl std::error::Error for AddrError {}

impl FromStr for Address {
    type Err = AddrError;

    fn from_str(input: &str) -> Result<Self, AddrError> {
        let err = |why: &str| AddrError {
            input: input.to_owned(),
            why: why.to_owned(),
        };
        if input == "stdio" {
            return Ok(Address::Stdio);
        }
        let Some((scheme, rest)) = input.split_once(':') else {
            return Err(err("no scheme"));
        };
        match scheme {
            "local" => {
                if rest.is_empty() {
                    Err(err("empty name"))
                } else if rest.contains(['/', '\\', '\0']) {
                    Err(err("a local name cannot contain '/', '\\' or NUL"))
                } else {
                    Ok(Address::Local(rest.to_owned()))
                }
            }
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
                if hostport.contains('@') {
                    return Err(err("user names and passwords are not supported"));
                }
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
                            || host.contains(['[', ']'])
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
                })
            }
            "tcp" | "udp" => {
                let (host, port) =
                    split_host_port(rest).ok_or_else(|| err("expected HOST:PORT"))?;
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
            _ => Err(err(&format!("unknown scheme '{scheme}'"))),
        }
    }
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
    // No brackets inside a host: `tcp:[[]:1` would print as `tcp:[:1`, which reads back as
    // nothing (found by the address fuzz target).
    (!host.is_empty() && !port.is_empty() && !host.contains(['[', ']'])).then_some((host, port))
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Stdio => f.write_str("stdio"),
            Address::Local(name) => write!(f, "local:{name}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Address::Udp { host, port } if host.contains(':') => write!(f, "udp:[{host}]:{port}"),
            Address::Udp { host, port } => write!(f, "udp:{host}:{port}"),
            Address::Redis { host, port, queue } if host.contains(':') => {
                write!(f, "redis://[{host}]:{port}/{queue}")
            }
            Address::Redis { host, port, queue } => write!(f, "redis://{host}:{port}/{queue}"),
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
    fn parses_every_form_and_prints_it_back() {
        for s in [
            "stdio",
            "local:baozi",
            "tcp:127.0.0.1:9000",
            "tcp:[::1]:9000",
            "tcp:localhost:0",
            "udp:127.0.0.1:8888",
            "udp:[::1]:53",
            "udp:localhost:0",
            "redis://127.0.0.1:6379/baozi",
            "redis://[::1]:7000/q.1_x-y",
            "redis://db.example:0/q",
        ] {
            assert_eq!(ok(s).to_string(), s);
        }
        assert_eq!(
            ok("redis://localhost/jobs"),
            Address::Redis {
                host: "localhost".into(),
                port: 6379,
                queue: "jobs".into()
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
            "redis://user:secret@h/q",
        ] {
            let e = bad.parse::<Address>().unwrap_err().to_string();
            assert!(e.contains(&format!("'{bad}'")), "{e}");
            assert!(e.contains(FORMS), "{e}");
        }
    }
}
