//! The floor of a one-way stream: `--bytes` bytes in `--chunk`-sized writes, read back in
//! `--chunk`-sized reads and counted. No framing, no encoding, no end frame, no receipt.
//!
//! ```sh
//! floor-pipe send stdio --bytes 2GiB --chunk 1MiB | floor-pipe recv stdio --bytes 2GiB --chunk 1MiB
//! floor-pipe recv -l local:f --bytes 2GiB & floor-pipe send local:f --bytes 2GiB
//! ```

#[cfg(unix)]
const USAGE: &str = "\
usage: floor-pipe send|recv ADDRESS [-l] --bytes N [--chunk SIZE]
  send: write N bytes in writes of SIZE (64KiB by default); recv: read them in reads of
  SIZE and fail unless exactly N arrived. ADDRESS: stdio, local:NAME, unix:PATH or
  tcp:HOST:PORT; -l listens there (prints `ready: ADDRESS` on stderr) instead of connecting.";

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    floor::main("floor-pipe", run)
}

#[cfg(unix)]
fn run() -> floor::Result<()> {
    use floor::{Addr, Args, Listener, Stream};
    use std::io::{ErrorKind, Read, Write};

    let args = Args::parse("floor-pipe", USAGE)?;
    let [role, addr] = args.positional.as_slice() else {
        return Err(USAGE.into());
    };
    let addr = Addr::parse(addr)?;
    let bytes = args.num("bytes", 0)?;
    let chunk = usize::try_from(args.num("chunk", 64 << 10)?)?.max(1);
    let send = match role.as_str() {
        "send" => true,
        "recv" => false,
        _ => return Err(USAGE.into()),
    };
    let mut stream = match (&addr, args.listen) {
        (Addr::Stdio, _) if send => Stream::stdout()?,
        (Addr::Stdio, _) => Stream::stdin()?,
        (_, true) => Listener::bind(&addr)?.accept()?,
        (_, false) => floor::connect(&addr)?,
    };
    // Filling: records of `baozi\n`, as good as any bytes.
    let mut buf: Vec<u8> = b"baozi\n".iter().copied().cycle().take(chunk).collect();
    if send {
        let mut left = bytes;
        while left > 0 {
            let n = usize::try_from(left.min(chunk as u64))?;
            stream.write_all(&buf[..n])?;
            left -= n as u64;
        }
        stream.shutdown_write()?;
    } else {
        let mut got = 0u64;
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got += n as u64,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        if got != bytes {
            return Err(format!("expected {bytes} bytes, {got} arrived").into());
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("floor-pipe: Unix only (the bench is scripts/bench.sh)");
    std::process::ExitCode::FAILURE
}
