//! The Win32 calls of the transports, the only `unsafe` of `transport/` (this whole
//! module is Windows-only, said once where it is declared): whose a process is (its token's
//! user, compared with ours), a named pipe's owner-only security descriptor, whether a
//! pipe name is already served, and `shm:`'s (ring/win.rs): an unnamed section and its
//! view, events, the peer's process, handles taken from it, waits on two handles.
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

/// Whether process `pid` has ended, asked now: its handle signalled, or no process has that
/// id any more. One this process may not open counts as running.
pub(super) fn process_has_ended(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{ERROR_INVALID_PARAMETER, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Threading::{PROCESS_SYNCHRONIZE, WaitForSingleObject};
    // SAFETY: plain call; a null result is an error, read just after.
    let process = unsafe { OpenProcess(PROCESS_SYNCHRONIZE, 0, pid) };
    if process.is_null() {
        let e = io::Error::last_os_error();
        return e.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32);
    }
    let process = Owned(process);
    // SAFETY: a valid handle, a wait of 0 ms.
    unsafe { WaitForSingleObject(process.0, 0) == WAIT_OBJECT_0 }
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

// ---- shm: (transport/ring/win.rs): an unnamed section, events, the peer's process ----

/// A handle of ours, closed when dropped; what `shm:` holds of a connection.
#[derive(Debug)]
pub(in crate::transport) struct Handle(HANDLE);

// SAFETY: a kernel handle is a number valid in the whole process, from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; the calls made through `&Handle` are thread-safe in Win32.
unsafe impl Sync for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was made for us, is valid, and is closed only here.
        unsafe { CloseHandle(self.0) };
    }
}

/// A handle the call returned, or the error it left (`null` means failure).
fn handle(h: HANDLE) -> io::Result<Handle> {
    if h.is_null() {
        Err(io::Error::last_os_error())
    } else {
        Ok(Handle(h))
    }
}

impl Handle {
    /// Its value, to tell another process which handle of ours to duplicate.
    pub(in crate::transport) fn value(&self) -> u64 {
        self.0 as usize as u64
    }
}

/// An unnamed section of `len` bytes backed by the paging file, committed whole now
/// (`SEC_COMMIT`), so that a shortage is this error, not a fault later.
pub(in crate::transport) fn create_section(len: u64) -> io::Result<Handle> {
    use windows_sys::Win32::Foundation::INVALID_HANDLE_VALUE;
    use windows_sys::Win32::System::Memory::{CreateFileMappingW, PAGE_READWRITE, SEC_COMMIT};
    // SAFETY: no security attributes, no name (both null); the sizes are plain numbers.
    let h = unsafe {
        CreateFileMappingW(
            INVALID_HANDLE_VALUE,
            std::ptr::null(),
            PAGE_READWRITE | SEC_COMMIT,
            (len >> 32) as u32,
            len as u32,
            std::ptr::null(),
        )
    };
    handle(h)
}

/// A view of a whole section, unmapped when dropped.
#[derive(Debug)]
pub(crate) struct View {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the view is memory of the whole process; who touches it how is ring/memory.rs's
// business (atomics and bounded copies).
unsafe impl Send for View {}
// SAFETY: as above.
unsafe impl Sync for View {}

impl View {
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for View {
    fn drop(&mut self) {
        use windows_sys::Win32::System::Memory::{MEMORY_MAPPED_VIEW_ADDRESS, UnmapViewOfFile};
        // SAFETY: the address MapViewOfFile returned, unmapped only here.
        unsafe {
            UnmapViewOfFile(MEMORY_MAPPED_VIEW_ADDRESS {
                Value: self.ptr.cast(),
            })
        };
    }
}

/// Maps the first `len` bytes of `section` (an error if it is smaller).
pub(in crate::transport) fn map_view(section: &Handle, len: usize) -> io::Result<View> {
    use windows_sys::Win32::System::Memory::{FILE_MAP_ALL_ACCESS, MapViewOfFile};
    // SAFETY: a valid section handle; offset 0; the length is checked by the system.
    let view = unsafe { MapViewOfFile(section.0, FILE_MAP_ALL_ACCESS, 0, 0, len) };
    if view.Value.is_null() {
        return Err(io::Error::last_os_error());
    }
    Ok(View {
        ptr: view.Value.cast(),
        len,
    })
}

/// An unnamed auto-reset event, not signalled.
pub(in crate::transport) fn create_event() -> io::Result<Handle> {
    use windows_sys::Win32::System::Threading::CreateEventW;
    // SAFETY: no security attributes and no name (null); auto-reset (FALSE), not set.
    handle(unsafe { CreateEventW(std::ptr::null(), 0, 0, std::ptr::null()) })
}

/// Signals an event (a failure would mean a bad handle; the waiter's timeout-free loop
/// would then hang on nothing, so it is ignored only because it cannot happen to ours).
pub(in crate::transport) fn set_event(event: &Handle) {
    use windows_sys::Win32::System::Threading::SetEvent;
    // SAFETY: a valid event handle of ours.
    unsafe { SetEvent(event.0) };
}

/// Process `pid`, to wait for its end, and with `dup` to take handles from it.
pub(in crate::transport) fn open_process(pid: u32, dup: bool) -> io::Result<Handle> {
    use windows_sys::Win32::System::Threading::{PROCESS_DUP_HANDLE, PROCESS_SYNCHRONIZE};
    let access = PROCESS_SYNCHRONIZE | if dup { PROCESS_DUP_HANDLE } else { 0 };
    // SAFETY: plain call; a null result is an error.
    handle(unsafe { OpenProcess(access, 0, pid) })
}

/// Our own copy of the handle `value` of `process` (opened with `dup`), with the same
/// access. A value that names nothing there fails; ours is always a fresh handle, never
/// one we already had, whatever the peer sent.
pub(in crate::transport) fn duplicate_from(process: &Handle, value: u64) -> io::Result<Handle> {
    use windows_sys::Win32::Foundation::{DUPLICATE_SAME_ACCESS, DuplicateHandle};
    let mut ours: HANDLE = std::ptr::null_mut();
    // SAFETY: valid process handles (the peer's, opened with PROCESS_DUP_HANDLE, and our
    // pseudo-handle); `value` is only a number to the system, checked by it.
    let ok = unsafe {
        DuplicateHandle(
            process.0,
            value as usize as HANDLE,
            GetCurrentProcess(),
            &mut ours,
            0,
            0,
            DUPLICATE_SAME_ACCESS,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    handle(ours)
}

/// What ended a [`wait_either`].
#[derive(Debug, PartialEq, Eq)]
pub(in crate::transport) enum Woke {
    First,
    Second,
    TimedOut,
}

/// Waits until `a` or `b` is signalled (an event set, a process ended), or `limit`.
pub(in crate::transport) fn wait_either(
    a: &Handle,
    b: &Handle,
    limit: Option<std::time::Duration>,
) -> Woke {
    use windows_sys::Win32::Foundation::{WAIT_OBJECT_0, WAIT_TIMEOUT};
    use windows_sys::Win32::System::Threading::{INFINITE, WaitForMultipleObjects};
    let ms = limit.map_or(INFINITE, |d| {
        u32::try_from(d.as_millis().max(1)).unwrap_or(INFINITE - 1)
    });
    let handles = [a.0, b.0];
    // SAFETY: two valid handles in an array that lives across the call.
    match unsafe { WaitForMultipleObjects(2, handles.as_ptr(), 0, ms) } {
        WAIT_OBJECT_0 => Woke::First,
        WAIT_TIMEOUT => Woke::TimedOut,
        _ => Woke::Second,
    }
}

/// Whether a process (or any waitable object) has signalled: asked now, without waiting.
pub(in crate::transport) fn has_ended(process: &Handle) -> bool {
    use windows_sys::Win32::Foundation::WAIT_OBJECT_0;
    use windows_sys::Win32::System::Threading::WaitForSingleObject;
    // SAFETY: a valid handle, a wait of 0 ms.
    unsafe { WaitForSingleObject(process.0, 0) == WAIT_OBJECT_0 }
}

/// The processor this thread runs on, for the spin policy.
pub(in crate::transport) fn current_cpu() -> u32 {
    // SAFETY: plain call, no arguments.
    unsafe { windows_sys::Win32::System::Threading::GetCurrentProcessorNumber() }
}
