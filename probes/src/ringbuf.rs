//! The event stream: the BPF ring buffer, read record by record as [`Record`]s.
use crate::event::Record;
use aya::maps::{MapData, RingBuf};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// Owns the ring buffer. Use [`RingReader::poll`] to block, or wrap it in `tokio::io::unix::AsyncFd` (it is
/// `AsRawFd`/`AsFd`; the fd becomes readable when records are available) and drain with
/// [`RingReader::next_event`] until it returns `None`.
pub struct RingReader {
    ring: RingBuf<MapData>,
}

impl RingReader {
    pub(crate) fn new(ring: RingBuf<MapData>) -> Self {
        RingReader { ring }
    }

    /// The next event record, if one is ready. Records that are not events or too short are skipped.
    pub fn next_event(&mut self) -> Option<Record> {
        loop {
            let item = self.ring.next()?;
            if let Some(ev) = Record::from_bytes(&item) {
                return Some(ev);
            }
        }
    }

    /// Waits up to `timeout` for records; `Ok(true)` when some may be ready.
    pub fn poll(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        match r {
            r if r < 0 => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
            0 => Ok(false),
            _ => Ok(true),
        }
    }

    /// Drains every ready record into `out`; returns how many were added.
    pub fn drain_into(&mut self, out: &mut Vec<Record>) -> usize {
        let before = out.len();
        while let Some(ev) = self.next_event() {
            out.push(ev);
        }
        out.len() - before
    }
}

impl AsRawFd for RingReader {
    fn as_raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }
}

impl AsFd for RingReader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ring.as_fd()
    }
}
