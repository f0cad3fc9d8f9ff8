//! The floor of an echo round trip: a server that answers each line with a prefix and the
//! line, and a ping-pong client that times each round trip and prints min, median, p99 and
//! max in the words of `client --count`. Plain reads and writes of the same line sizes.
//!
//! ```sh
//! floor-echo serve tcp:127.0.0.1:0 unix:/tmp/f.sock udp:127.0.0.1:0 local:f --prefix 'test: '
//! floor-echo ping tcp:127.0.0.1:PORT --count 100000 --message baozi --prefix 'test: '
//! ```

#[cfg(unix)]
const USAGE: &str = "\
usage: floor-echo serve ADDRESS... [--prefix TEXT]
       floor-echo ping ADDRESS [--count N] [--message TEXT] [--prefix TEXT]
  serve: answer every line with TEXT and the line (a thread per client; udp: a datagram
  per datagram), until killed. ping: N round trips of one line, each reply checked, then
  the latency line. ADDRESS: local:NAME, unix:PATH, tcp:HOST:PORT or udp:HOST:PORT.";

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    floor::main("floor-echo", run)
}

#[cfg(unix)]
fn run() -> floor::Result<()> {
    use floor::{Addr, Args};

    let args = Args::parse("floor-echo", USAGE)?;
    let prefix = args.get("prefix", "test: ").into_bytes();
    let Some((role, addrs)) = args.positional.split_first() else {
        return Err(USAGE.into());
    };
    let addrs = addrs
        .iter()
        .map(|a| Addr::parse(a))
        .collect::<floor::Result<Vec<_>>>()?;
    match role.as_str() {
        "serve" if !addrs.is_empty() => serve::all(&addrs, &prefix),
        "ping" if addrs.len() == 1 => {
            let message = args.get("message", "baozi");
            let count = args.num("count", 10_000)?;
            ping::run(&addrs[0], count, message.as_bytes(), &prefix)
        }
        _ => Err(USAGE.into()),
    }
}

#[cfg(unix)]
mod serve {
    use floor::{Addr, Listener, Stream};
    use std::io::{Read, Write};
    use std::net::UdpSocket;
    use std::sync::Arc;
    use std::thread;

    pub fn all(addrs: &[Addr], prefix: &[u8]) -> floor::Result<()> {
        let prefix: Arc<[u8]> = prefix.into();
        let mut threads = Vec::new();
        for addr in addrs {
            let prefix = Arc::clone(&prefix);
            if let Addr::Udp(hp) = addr {
                let socket = floor::udp(hp, true)?;
                threads.push(thread::spawn(move || datagrams(&socket, &prefix)));
            } else {
                let listener = Listener::bind(addr)?;
                threads.push(thread::spawn(move || accept(&listener, &prefix)));
            }
        }
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }

    fn accept(listener: &Listener, prefix: &Arc<[u8]>) -> std::io::Result<()> {
        loop {
            let stream = listener.accept()?;
            let prefix = Arc::clone(prefix);
            // A client that goes away ends its thread; nothing to report.
            thread::spawn(move || lines(stream, &prefix));
        }
    }

    /// Answers every complete line with one write of prefix + line.
    fn lines(mut stream: Stream, prefix: &[u8]) -> std::io::Result<()> {
        let mut inbuf = vec![0u8; 64 << 10];
        let mut have = 0;
        let mut out = Vec::with_capacity(inbuf.len());
        loop {
            let n = stream.read(&mut inbuf[have..])?;
            if n == 0 {
                return Ok(());
            }
            have += n;
            out.clear();
            let mut start = 0;
            while let Some(i) = inbuf[start..have].iter().position(|&b| b == b'\n') {
                out.extend_from_slice(prefix);
                out.extend_from_slice(&inbuf[start..=start + i]);
                start += i + 1;
            }
            if !out.is_empty() {
                stream.write_all(&out)?;
            }
            inbuf.copy_within(start..have, 0);
            have -= start;
            if have == inbuf.len() {
                return Ok(()); // a line longer than the buffer: not the floor's business
            }
        }
    }

    fn datagrams(socket: &UdpSocket, prefix: &[u8]) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 << 10];
        let mut out = Vec::with_capacity(buf.len() + prefix.len());
        loop {
            let (n, from) = socket.recv_from(&mut buf)?;
            out.clear();
            out.extend_from_slice(prefix);
            out.extend_from_slice(&buf[..n]);
            socket.send_to(&out, from)?;
        }
    }
}

#[cfg(unix)]
mod ping {
    use floor::Addr;
    use std::io::{Read, Write};
    use std::time::Instant;

    pub fn run(addr: &Addr, count: u64, message: &[u8], prefix: &[u8]) -> floor::Result<()> {
        let mut line = message.to_vec();
        line.push(b'\n');
        let mut expected = prefix.to_vec();
        expected.extend_from_slice(&line);
        let mut reply = vec![0u8; expected.len() + 1];
        let mut times = Vec::with_capacity(usize::try_from(count)?);
        let started;
        if let Addr::Udp(hp) = addr {
            let socket = floor::udp(hp, false)?;
            socket.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
            started = Instant::now();
            for i in 1..=count {
                let t = Instant::now();
                socket.send(&line)?;
                let n = socket.recv(&mut reply)?;
                times.push(t.elapsed());
                if reply[..n] != expected[..] {
                    return Err(format!("reply {i} is not an echo").into());
                }
            }
        } else {
            let mut stream = floor::connect(addr)?;
            started = Instant::now();
            for i in 1..=count {
                let t = Instant::now();
                stream.write_all(&line)?;
                let mut have = 0;
                while have < expected.len() {
                    let n = stream.read(&mut reply[have..])?;
                    if n == 0 {
                        return Err(format!("{addr} closed before reply {i}").into());
                    }
                    have += n;
                }
                times.push(t.elapsed());
                if reply[..have] != expected[..] {
                    return Err(format!("reply {i} is not an echo").into());
                }
            }
        }
        let total = started.elapsed();
        println!(
            "{}",
            floor::latency_line("floor-echo", addr, total, &mut times)
        );
        Ok(())
    }
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("floor-echo: Unix only (the bench is scripts/bench.sh)");
    std::process::ExitCode::FAILURE
}
