//! Reading a regular capture file through a sliding memory-mapped window instead of `read()`.
//!
//! Why: `read()` copies every byte from the page cache into our buffer; on a warm multi-gigabyte
//! capture that copy alone was about a tenth of the run (see BENCHMARKS.md). A mapping hands out the
//! page-cache pages themselves. The window (a few MB) slides forward as the reader consumes it and the
//! previous window is unmapped, so resident memory stays that of one window, whatever the file size.
//!
//! The one `unsafe` of the crate lives here, because mapping a file is unsafe in Rust: the memory
//! changes if another process modifies the file while it is mapped, and if another process *truncates*
//! it, touching the lost pages raises SIGBUS and the process dies. tlsautopsy maps only regular files,
//! read-only, and only within the length they had when opened; a file still being written keeps
//! growing past that length harmlessly (those bytes are simply not read). For a file that may be
//! truncated while it is analysed (a ring buffer being rotated in place), use `--no-mmap`, which reads
//! with `read()` like standard input. ripgrep makes the same trade for the same reason.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use memmap2::{Mmap, MmapOptions};

/// Bytes mapped at once (more when one record needs more).
pub(crate) const WINDOW: usize = 8 << 20;

/// A read-only window onto a regular file.
pub(crate) struct MappedFile {
    file: File,
    /// File length when opened: nothing past it is ever mapped.
    len: u64,
    map: Option<Mmap>,
    /// File offset of the first byte of `map`.
    map_offset: u64,
}

impl MappedFile {
    /// A mapping for `file` if it is a non-empty regular file.
    pub(crate) fn new(file: File) -> io::Result<Option<MappedFile>> {
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            return Ok(None);
        }
        Ok(Some(MappedFile {
            len: meta.len(),
            file,
            map: None,
            map_offset: 0,
        }))
    }

    /// File length when opened.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The current window.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Moves the window to start at file offset `at`, at least `want` bytes long (or to the end of the
    /// file). The previous window is unmapped first.
    pub(crate) fn remap(&mut self, at: u64, want: usize) -> io::Result<()> {
        self.map = None;
        self.map_offset = at.min(self.len);
        let left = self.len.saturating_sub(self.map_offset);
        let len = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(want.max(WINDOW));
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the mapping is read-only, of a regular file, within the length it had when opened
        // (`self.len`), and its slices never outlive the next `remap` (the borrow checker ties them
        // to `&self`). What Rust cannot rule out is another process changing or truncating the file
        // meanwhile: see the module documentation and `--no-mmap`.
        let map = unsafe {
            MmapOptions::new()
                .offset(self.map_offset)
                .len(len)
                .populate()
                .map(&self.file)?
        };
        self.map = Some(map);
        Ok(())
    }

    /// True when the window reaches the end of the file.
    pub(crate) fn at_end(&self) -> bool {
        self.map_offset.saturating_add(self.bytes().len() as u64) >= self.len
    }
}
