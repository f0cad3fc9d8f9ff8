//! Who may be at the other end of a `local:` or `unix:` socket, and how each system says
//! who is: the kernel's peer credentials on Unix sockets, the peer process's token user on
//! Windows named pipes. TCP and pipes cannot say, and are not checked.

use std::io;

/// Who may be at the other end of a `local:` or `unix:` socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Access {
    /// Only processes of this program's own user (the default): the kernel says who the
    /// peer is (its credentials on the socket), so another local user can neither take a
    /// stream meant for us by taking the name first, nor feed a listener of ours. A
    /// `unix:` socket file is created readable and writable by its owner only (0600).
    #[default]
    OwnUser,
    /// Any local user (`--any-user`); a `unix:` socket file is created 0666.
    AnyUser,
}

/// The peer of a Unix socket, `uid N`, if it is not our effective user.
#[cfg(unix)]
pub(super) fn other_user_of_socket(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<Option<String>> {
    let peer = rustix::net::sockopt::socket_peercred(fd)?.uid.as_raw();
    let me = rustix::process::geteuid().as_raw();
    Ok((peer != me).then(|| format!("uid {peer}")))
}

/// The peer process of a named pipe, `pid N`, if its token's user is not ours.
#[cfg(windows)]
pub(super) fn other_user_of_process(pid: Option<u32>) -> io::Result<Option<String>> {
    let pid =
        pid.ok_or_else(|| io::Error::other("the named pipe did not name its peer process"))?;
    Ok((!super::windows::same_user_as_ours(pid)?).then(|| format!("pid {pid}")))
}
