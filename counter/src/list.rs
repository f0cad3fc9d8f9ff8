//! `counter list`: the segments in the segment folder (`/dev/shm` on Linux, the temp dir
//! elsewhere), one line each, read from their headers only (nothing is opened for
//! writing, locked or mapped): to find what a killed launcher left, for `show` or `clean`.

use crate::layout::{HEADER_BYTES, parse_header};
use common::cli::Result;
use ipc::units::count_as;
use std::io::Read;
use std::process::ExitCode;

pub fn list() -> Result<ExitCode> {
    let dir = ipc::segment::dir();
    let entries = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list the segment folder {}: {e}", dir.display()))?;
    let mut lines = Vec::new();
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(name) = file.to_str().and_then(|f| f.strip_prefix("baozi-")) else {
            continue;
        };
        // Companions (`baozi-NAME.lock`, `.permit-0`) and other names are not segments.
        if ipc::addr::check_segment_name(name).is_err() {
            continue;
        }
        // Never through a link; only regular files.
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let mut head = Vec::new();
        let read = std::fs::File::open(entry.path())
            .and_then(|f| f.take(HEADER_BYTES).read_to_end(&mut head));
        let what = match read {
            Err(e) => format!("cannot be read: {e}"),
            Ok(_) => match parse_header(&head, meta.len()) {
                Ok(l) => format!(
                    "{}, {}",
                    count_as(l.slots, "worker slot", "worker slots"),
                    count_as(l.permits, "permit", "permits")
                ),
                Err(e) => format!("not a counter segment: {e}"),
            },
        };
        lines.push(format!("{name}: {what}"));
    }
    lines.sort();
    if lines.is_empty() {
        ipc::elog!("counter: no segments in {}", dir.display());
    } else {
        ipc::elog!(
            "counter: {} in {} (`counter show NAME`, `counter clean NAME`)",
            count_as(lines.len() as u64, "segment", "segments"),
            dir.display()
        );
    }
    for line in lines {
        ipc::say::out_line(&line)?;
    }
    Ok(ExitCode::SUCCESS)
}
