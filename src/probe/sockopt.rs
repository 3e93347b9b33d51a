//! The one integer socket option setter that socket2 does not cover for us.
use socket2::Socket;
use std::io;
use std::os::fd::AsRawFd;

/// `setsockopt(level, name, value)` with an int value, on a socket we own.
pub(crate) fn set_int(sock: &Socket, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: an int option on a socket we own, its size given.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
