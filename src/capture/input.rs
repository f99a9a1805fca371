//! A bounded read buffer over any `Read`: grows only when one record needs more room than it has,
//! never beyond a hard cap, and hands out slices that stay valid until the next fill.

use std::io::{self, Read};

/// Initial buffer size: enough for any ordinary packet and many small ones. 256 KB reads measured
/// faster than 64 KB on a warm 1 GB capture (fewer calls) while the data read still sits in the
/// CPU cache when it is parsed (see BENCHMARKS.md).
pub(crate) const INITIAL_CAPACITY: usize = 256 * 1024;

pub(crate) struct Input {
    src: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// The source returned end of file.
    eof: bool,
    /// File offset of `buf[start]`.
    offset: u64,
    /// Largest buffer we will ever allocate.
    max_capacity: usize,
}

impl Input {
    /// `head` holds bytes already read from the start of `src`.
    pub(crate) fn new(src: Box<dyn Read + Send>, head: &[u8], max_capacity: usize) -> Input {
        let cap = INITIAL_CAPACITY.max(head.len());
        let mut buf = vec![0u8; cap];
        if let Some(dst) = buf.get_mut(..head.len()) {
            dst.copy_from_slice(head);
        }
        Input {
            src,
            buf,
            start: 0,
            end: head.len(),
            eof: false,
            offset: 0,
            max_capacity: max_capacity.max(cap),
        }
    }

    /// Unconsumed bytes currently buffered.
    pub(crate) fn available(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// File offset of the first unconsumed byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The unconsumed bytes.
    pub(crate) fn data(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or(&[])
    }

    /// Index in the internal buffer of the first unconsumed byte (for [`Input::slice`]).
    pub(crate) fn position(&self) -> usize {
        self.start
    }

    /// A slice of the internal buffer by absolute position; valid until the next [`Input::fill`].
    pub(crate) fn slice(&self, pos: usize, len: usize) -> &[u8] {
        pos.checked_add(len)
            .and_then(|end| self.buf.get(pos..end))
            .unwrap_or(&[])
    }

    /// Marks `n` bytes as used.
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.available());
        self.start = self.start.saturating_add(n);
        self.offset = self.offset.saturating_add(n as u64);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Makes at least `n` unconsumed bytes available. Returns `Ok(false)` when the source ends first
    /// (whatever was available stays available). `n` must not exceed the maximum capacity.
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.available() >= n {
            return Ok(true);
        }
        if n > self.max_capacity {
            return Err(io::Error::other("record larger than the read buffer limit"));
        }
        // Make room: move the unconsumed bytes to the front, growing the buffer if one record needs it.
        if self.buf.len().saturating_sub(self.start) < n {
            if n > self.buf.len() {
                let new_cap = n
                    .checked_next_power_of_two()
                    .unwrap_or(n)
                    .min(self.max_capacity)
                    .max(n);
                self.buf.resize(new_cap, 0);
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end = self.available();
            self.start = 0;
        }
        while self.available() < n {
            if self.eof {
                return Ok(false);
            }
            let Some(space) = self.buf.get_mut(self.end..) else {
                return Ok(false);
            };
            match self.src.read(space) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end = self.end.saturating_add(k).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Reads up to `buf.len()` bytes, retrying short reads until the buffer is full or the source ends.
pub(crate) fn read_head(src: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(space) = buf.get_mut(got..) else {
            break;
        };
        match src.read(space) {
            Ok(0) => break,
            Ok(k) => got = got.saturating_add(k),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got.min(buf.len()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A reader that returns at most `chunk` bytes per call, like a pipe.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        chunk: usize,
    }
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let rest = self.data.get(self.pos..).unwrap_or(&[]);
            let n = rest.len().min(buf.len()).min(self.chunk);
            buf[..n].copy_from_slice(&rest[..n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn fills_across_short_reads_and_grows_to_cap() {
        const I: usize = INITIAL_CAPACITY;
        let (cap, big) = (2 * I + I / 2, I + I / 2);
        let data: Vec<u8> = (0..3 * I as u32).map(|i| i as u8).collect();
        let mut input = Input::new(
            Box::new(Trickle {
                data: data.clone(),
                pos: 3,
                chunk: 7,
            }),
            &data[..3],
            cap,
        );
        assert!(input.fill(10).unwrap());
        assert_eq!(&input.data()[..10], &data[..10]);
        input.consume(5);
        assert_eq!(input.offset(), 5);
        // Needs a bigger buffer than the initial one.
        assert!(input.fill(big).unwrap());
        assert_eq!(&input.data()[..big], &data[5..big + 5]);
        // Beyond the cap: refused, no allocation.
        assert!(input.fill(cap + 1).is_err());
        input.consume(big);
        let left = data.len() - big - 5;
        assert!(input.fill(left).unwrap());
        assert!(!input.fill(left + 1).unwrap());
        assert_eq!(input.available(), left);
    }

    #[test]
    fn read_head_collects_short_reads() {
        let mut t = Trickle {
            data: vec![1; 100],
            pos: 0,
            chunk: 3,
        };
        let mut b = [0u8; 50];
        assert_eq!(read_head(&mut t, &mut b).unwrap(), 50);
        let mut b = [0u8; 80];
        assert_eq!(read_head(&mut t, &mut b).unwrap(), 50);
    }
}
