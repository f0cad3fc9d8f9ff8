//! `unix:PATH`: Unix socket files (this whole module is Unix-only, said once where it is
//! declared). A listener sets the file's mode itself, reclaims a file that nobody answers
//! on, never deletes what is not a socket, and removes its file when it goes, only while
//! it is still the same file.

use super::{Accept, Access, Stream, TransportError, access, listen_error};
use crate::addr::Address;
use crate::shutdown;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(super) fn connect(path: &Path) -> io::Result<Arc<dyn Stream>> {
    Ok(Arc::new(UnixStream::connect(path)?))
}

impl Stream for UnixStream {
    super::std_socket!(UnixStream);

    fn other_user(&self) -> io::Result<Option<String>> {
        access::other_user_of_socket(self.as_fd())
    }
}

/// A listening socket file; the file goes when the listener does.
#[derive(Debug)]
struct Listening {
    listener: UnixListener,
    shown: String,
    /// Removes the socket file when the listener goes.
    _file: SocketFile,
}

impl Accept for Listening {
    fn accept_stream(&self) -> io::Result<(Arc<dyn Stream>, String)> {
        Ok((Arc::new(self.listener.accept()?.0), self.shown.clone()))
    }
}

/// A socket file this process created; removed on drop and on Ctrl-C, but only while it is
/// still the same file (another process may have reclaimed the path since).
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    ino: u64,
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        use std::os::unix::fs::MetadataExt;
        shutdown::forget_file(&self.path);
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

pub(super) fn listen(
    addr: &Address,
    path: &Path,
    access: Access,
) -> Result<(Box<dyn Accept>, Address), TransportError> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    let io_err = listen_error(addr);
    let listener = match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let is_socket = std::fs::symlink_metadata(path)
                .map(|m| m.file_type().is_socket())
                .map_err(&io_err)?;
            if !is_socket {
                return Err(TransportError::Unusable {
                    addr: addr.clone(),
                    why: "the path exists and is not a socket; refusing to replace it",
                });
            }
            match UnixStream::connect(path) {
                Ok(_) => return Err(TransportError::InUse { addr: addr.clone() }),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    // Nobody answers: a dead process left it. Reclaim the name.
                    std::fs::remove_file(path).map_err(&io_err)?;
                    UnixListener::bind(path).map_err(&io_err)?
                }
                Err(e) => return Err(io_err(e)),
            }
        }
        other => other.map_err(&io_err)?,
    };
    // The mode is set, not left to the umask: owner only, unless every user is welcome.
    let mode = match access {
        Access::OwnUser => 0o600,
        Access::AnyUser => 0o666,
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(&io_err)?;
    let ino = std::fs::symlink_metadata(path).map_err(&io_err)?.ino();
    shutdown::remove_file_on_interrupt(path);
    let listening = Listening {
        listener,
        shown: addr.to_string(),
        _file: SocketFile {
            path: path.to_owned(),
            ino,
        },
    };
    Ok((Box::new(listening), addr.clone()))
}
