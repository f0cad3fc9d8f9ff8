//! The Win32 calls of the transports, the only `unsafe` of `transport/` (this whole
//! module is Windows-only, said once where it is declared): whose a process is (its token's
//! user, compared with ours), a named pipe's owner-only security descriptor, and whether a
//! pipe name is already served.
#![allow(unsafe_code)]

use std::io;
use windows_sys::Win32::Foundation::{CloseHandle, ERROR_ACCESS_DENIED, HANDLE};
use windows_sys::Win32::Security::{
    EqualSid, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

/// A handle, closed when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by us, is valid, and is closed only here.
        unsafe { CloseHandle(self.0) };
    }
}

/// The TOKEN_USER of a process, in a buffer aligned for it.
fn token_user(process: HANDLE) -> io::Result<Vec<u64>> {
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `process` is a valid process handle; `token` receives a new handle.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let token = Owned(token);
    let mut len = 0u32;
    // SAFETY: a null buffer of length 0 only asks for the length needed (this call
    // "fails" with ERROR_INSUFFICIENT_BUFFER and sets `len`).
    unsafe { GetTokenInformation(token.0, TokenUser, std::ptr::null_mut(), 0, &mut len) };
    let mut buf = vec![0u64; (len as usize).div_ceil(8).max(1)];
    let size = u32::try_from(buf.len() * 8).map_err(io::Error::other)?;
    // SAFETY: `buf` is writable for `size` bytes, 8-aligned, as TOKEN_USER needs.
    if unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), size, &mut len) }
        == 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(buf)
}

/// Whether process `pid` runs as the user this process runs as. A process this one
/// may not even query is not ours.
pub(super) fn same_user_as_ours(pid: u32) -> io::Result<bool> {
    // SAFETY: the pseudo-handle of this process needs no closing.
    let me = token_user(unsafe { GetCurrentProcess() })?;
    // SAFETY: plain call; a null result is an error, read just after.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(code) if code == ERROR_ACCESS_DENIED as i32 => Ok(false),
            _ => Err(e),
        };
    }
    let process = Owned(process);
    let peer = match token_user(process.0) {
        Err(e) if e.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => return Ok(false),
        other => other?,
    };
    let (me, peer) = (
        me.as_ptr().cast::<TOKEN_USER>(),
        peer.as_ptr().cast::<TOKEN_USER>(),
    );
    // SAFETY: both buffers hold a TOKEN_USER filled in by the system, whose SID
    // pointers point inside those buffers, alive for this call.
    Ok(unsafe { EqualSid((*me).User.Sid, (*peer).User.Sid) } != 0)
}

/// A named pipe's security descriptor that lets in its owner (the user who created it)
/// and SYSTEM only: Windows' default also lets everyone read.
pub(super) fn owner_only()
-> io::Result<interprocess::os::windows::security_descriptor::SecurityDescriptor> {
    use interprocess::os::windows::security_descriptor::SecurityDescriptor;
    // P: protected (nothing inherited); A;;GA;;;OW: all access to the owner; ...;;;SY: SYSTEM.
    SecurityDescriptor::deserialize(widestring::u16cstr!("D:P(A;;GA;;;OW)(A;;GA;;;SY)"))
}

/// Whether some process already serves the named pipe `\\.\pipe\NAME`, asked without
/// connecting to it (a connection would be an unwanted client for that process).
/// Windows refuses a second listener by itself (interprocess creates the first instance
/// with FILE_FLAG_FIRST_PIPE_INSTANCE), but wine 8 ignores that flag; this check holds on both.
pub(super) fn pipe_is_served(name: &str) -> bool {
    use windows_sys::Win32::Foundation::ERROR_FILE_NOT_FOUND;
    use windows_sys::Win32::System::Pipes::WaitNamedPipeW;
    let path: Vec<u16> = format!(r"\\.\pipe\{name}")
        .encode_utf16()
        .chain([0])
        .collect();
    // SAFETY: `path` is a NUL-terminated UTF-16 string that lives across the call, which
    // only reads it. A 1 ms wait: we ask whether the pipe exists, not for a free instance.
    let exists = unsafe { WaitNamedPipeW(path.as_ptr(), 1) } != 0;
    exists || io::Error::last_os_error().raw_os_error() != Some(ERROR_FILE_NOT_FOUND as i32)
}
