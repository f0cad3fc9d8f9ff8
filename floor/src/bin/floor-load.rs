//! A load generator for any line echo server: `--clients` connections at once, each making
//! `--trips` round trips (a line, then its reply). All clients connect first; the clock runs
//! from the moment they all start until the last one is done. Prints round trips per second
//! and the number of errors (a failed connection, a broken one, a wrong reply).
//!
//! ```sh
//! floor-load tcp:127.0.0.1:8888 --clients 1000 --trips 100 --prefix 'test: '
//! ```

#[cfg(unix)]
const USAGE: &str = "\
usage: floor-load ADDRESS [--clients N] [--trips N] [--message TEXT] [--prefix TEXT]
  N clients (1000 by default) connect to the echo server at ADDRESS (local:NAME, unix:PATH
  or tcp:HOST:PORT), then all at once make their round trips (100 each by default). Exits 1
  if any round trip failed.";

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    floor::main("floor-load", run)
}

#[cfg(unix)]
fn run() -> floor::Result<()> {
    use floor::{Addr, Args, Stream};
    use std::io::{Read, Write};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::Instant;

    /// One client's round trips; the number that failed (all of them once one did).
    fn trips(mut stream: Stream, n: u64, line: &[u8], expected: &[u8]) -> u64 {
        let mut reply = vec![0u8; expected.len() + 1];
        for i in 0..n {
            let ok = stream.write_all(line).is_ok() && {
                let mut have = 0;
                while have < expected.len() {
                    match stream.read(&mut reply[have..]) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => have += k,
                    }
                }
                reply[..have] == *expected
            };
            if !ok {
                return n - i;
            }
        }
        0
    }

    let args = Args::parse("floor-load", USAGE)?;
    let [addr] = args.positional.as_slice() else {
        return Err(USAGE.into());
    };
    let addr = Addr::parse(addr)?;
    let clients = args.num("clients", 1000)?;
    let per = args.num("trips", 100)?;
    let mut line = args.get("message", "baozi").into_bytes();
    line.push(b'\n');
    let mut expected = args.get("prefix", "test: ").into_bytes();
    expected.extend_from_slice(&line);
    let (line, expected): (Arc<[u8]>, Arc<[u8]>) = (line.into(), expected.into());

    let mut streams = Vec::new();
    let mut errors = 0u64;
    for _ in 0..clients {
        match floor::connect(&addr) {
            Ok(s) => streams.push(s),
            Err(e) => {
                eprintln!("floor-load: {e}");
                errors += per;
            }
        }
    }
    // Every client starts at the barrier; the clock runs from the first start to the last
    // finish, each read by the clients themselves (the main thread may not run in between).
    let start = Arc::new(Barrier::new(streams.len()));
    let mut threads = Vec::new();
    for stream in streams {
        let (start, line, expected) =
            (Arc::clone(&start), Arc::clone(&line), Arc::clone(&expected));
        threads.push(thread::Builder::new().stack_size(64 << 10).spawn(move || {
            start.wait();
            let t0 = Instant::now();
            let failed = trips(stream, per, &line, &expected);
            (t0, Instant::now(), failed)
        })?);
    }
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for t in threads {
        match t.join() {
            Ok((t0, t1, failed)) => {
                errors += failed;
                first = Some(first.map_or(t0, |f| f.min(t0)));
                last = Some(last.map_or(t1, |l| l.max(t1)));
            }
            Err(_) => errors += per,
        }
    }
    let secs = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    let total = clients * per;
    let done = total - errors;
    println!(
        "floor-load: {clients} clients x {per} round trips over {addr} in {secs:.3}s: \
         {:.0} round trips/s, {errors} errors",
        done as f64 / secs
    );
    if errors > 0 {
        return Err(format!("{errors} of {total} round trips failed").into());
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("floor-load: Unix only (the bench is scripts/bench.sh)");
    std::process::ExitCode::FAILURE
}
