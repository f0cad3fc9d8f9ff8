//! `counter clean NAME`: removes a segment's files (segment, lock file, permit files),
//! only when they are ours and idle, unless `--force`.

use crate::layout::{HEADER_BYTES, KIND, Paths, parse_header};
use common::Error;
use ipc::segment::{self, SegmentError};
use std::io;
use std::path::{Path, PathBuf};

/// The permit files of segment `name` that exist, found by name: `baozi-NAME.permit-DIGITS`.
/// (Names have no `.`, so these cannot belong to another segment.)
fn permit_files(name: &str) -> Result<Vec<PathBuf>, Error> {
    let prefix = format!("baozi-{name}.permit-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(segment::dir())?.flatten() {
        let file_name = entry.file_name();
        if let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix))
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit())
        {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Removes the files of segment `name` (segment, lock file, permit files), for `counter
/// clean`. Without `force`, only a segment that is ours and idle: its file must have a
/// valid header, and nobody may have it open (every user holds a shared lock on it while it
/// does: its launcher, workers, `show`). With `force`, whatever is at those names, links
/// included (the link is removed, never what it points to). Returns what it removed; an
/// error if there was nothing.
pub fn remove(name: &str, force: bool) -> Result<Vec<PathBuf>, Error> {
    let paths = Paths::new(name)?;
    let shown = paths.data.display();
    let forced = format!("`counter clean {name} --force` removes it anyway");
    let mut targets = Vec::new();
    let mut held = None;
    if force || !exists(&paths.data) {
        targets.push(paths.lock.clone());
        targets.extend(permit_files(name)?);
        targets.retain(|p| exists(p));
        if !force && !targets.is_empty() {
            let left: Vec<_> = targets.iter().map(|p| p.display().to_string()).collect();
            return Err(format!(
                "no segment named {name:?} ({shown} does not exist), but {} is left: \
                 `counter clean {name} --force` removes it",
                left.join(", ")
            )
            .into());
        }
        if exists(&paths.data) {
            targets.push(paths.data.clone());
        }
    } else {
        let idle = segment::take_idle(&paths.data, KIND, HEADER_BYTES).map_err(|e| match e {
            SegmentError::NotASegment(..) => format!("{e}; not removed: {forced}"),
            SegmentError::InUse(_) => format!(
                "segment {name:?} is in use (its launcher, a worker or `counter show` has \
                 it open); not removed: stop them first, or {forced}"
            ),
            SegmentError::Io {
                action: "lock",
                source,
                ..
            } => format!("cannot lock {shown}: {source}"),
            SegmentError::Io { source, .. } => format!("cannot clean {shown}: {source}; {forced}"),
            e => format!("cannot clean {shown}: {e}; {forced}"),
        })?;
        let layout = parse_header(idle.head(), idle.len())
            .map_err(|e| format!("not a baozi-ipc segment: {shown}: {e}; not removed: {forced}"))?;
        targets.extend((0..layout.permits).map(|i| paths.permit(i)));
        targets.push(paths.lock.clone());
        targets.retain(|p| exists(p));
        // The segment file last, once no longer held (Windows deletes no open file).
        held = Some(idle);
    }
    let mut removed = Vec::new();
    let mut remove_one = |p: PathBuf| match std::fs::remove_file(&p) {
        Ok(()) => {
            removed.push(p);
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", p.display())),
    };
    for p in targets {
        remove_one(p)?;
    }
    if let Some(idle) = held {
        let data = paths.data.clone();
        if idle
            .remove()
            .map_err(|e| format!("cannot remove {}: {e}", data.display()))?
        {
            removed.push(data);
        }
    }
    if removed.is_empty() {
        return Err(format!("no segment named {name:?} ({shown} does not exist)").into());
    }
    Ok(removed)
}
