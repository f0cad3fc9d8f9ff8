//! The echo line reader, on any bytes delivered in any chunks: `next_line` never panics,
//! never returns a line longer than max_line + 2 (a longest line and "\r\n"), never holds
//! a buffer larger than that, and returns exactly the lines a plain split gives, up to the
//! first line over the limit, which is an error.
#![no_main]

use common::echo::{LineError, LineReader, content};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};

/// Hands out its bytes in chunks whose sizes come from `steps`, with an `Interrupted`
/// error now and then, which the reader must retry.
struct Chunks<'a> {
    data: &'a [u8],
    steps: &'a [u8],
    i: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let step = self.steps[self.i % self.steps.len()];
        self.i += 1;
        if step == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = usize::from(step).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let max_line = 1 + usize::from(u16::from_le_bytes([data[0], data[1]]) % 512);
    let n_steps = 1 + usize::from(data[2] % 8);
    let Some((steps, text)) = data[3..].split_at_checked(n_steps) else {
        return;
    };
    // Interrupted on every read would never end; keep at least one real step.
    let steps: Vec<u8> = steps.iter().copied().chain([255]).collect();
    let mut r = LineReader::new(
        Chunks {
            data: text,
            steps: &steps,
            i: 0,
        },
        max_line,
    );
    let want: Vec<&[u8]> = text.split_inclusive(|&b| b == b'\n').collect();
    let mut got = 0;
    loop {
        assert!(
            r.buffer_size() <= max_line + 2,
            "buffer {}",
            r.buffer_size()
        );
        match r.next_line() {
            Ok(Some(line)) => {
                assert!(line.len() <= max_line + 2, "a line of {}", line.len());
                assert_eq!(Some(&line), want.get(got), "line {got}");
                got += 1;
            }
            Ok(None) => {
                assert_eq!(got, want.len());
                return;
            }
            Err(LineError::TooLong { limit }) => {
                assert_eq!(limit, max_line);
                assert!(
                    content(want[got]).len() > max_line,
                    "line {got} ({} bytes) refused with limit {max_line}",
                    want[got].len()
                );
                return;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
});
