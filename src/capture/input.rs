//! A bounded read buffer over any `Read`: grows only when one record needs more room than it has,
//! never beyond a hard cap, and hands out slices that stay valid until the next fill.
//!
//! The buffer is shared ([`Input::block`]): whoever holds a clone keeps the bytes of the frames in
//! it as they are (a flow-sharded run hands them to its workers without copying them). Before
//! reading into a buffer someone else still holds, the input moves on to a fresh one and copies
//! only the unconsumed bytes (the start of a record cut by the end of the last read) to its front;
//! the buffers it left are kept and reused once nobody else holds them.
//!
//! # Reading ahead
//! An input made with [`Input::ahead`] has another thread read the source ([`read_ahead`]): the
//! kernel's copy of the file into memory (a quarter of a one-thread run on a large capture, see
//! BENCHMARKS.md) then runs beside the analysis instead of before it. The thread reads into buffers
//! of its own ([`AHEAD_READ`] bytes after [`AHEAD_ROOM`] bytes of headroom) and hands each over
//! whole, [`AHEAD_DEPTH`] at most in flight: nothing is copied again, except the start of a record
//! cut by the end of a read, which goes into the headroom in front of the next buffer's bytes
//! ([`Input::append`]; a record longer than the headroom is joined in a buffer of its own). Buffers
//! go back to the thread once nobody holds them. The bytes, offsets and errors are those of reading
//! in place; only who reads differs.

use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;

/// Initial buffer size: enough for any ordinary packet and many small ones. 256 KB reads measured
/// faster than 64 KB on a warm 1 GB capture (fewer calls) while the data read still sits in the
/// CPU cache when it is parsed (see BENCHMARKS.md).
pub(crate) const INITIAL_CAPACITY: usize = 256 * 1024;

/// Buffers left while others held them, kept for reuse; beyond this many, those nobody holds any
/// more are freed (the others are bounded by whoever holds them).
const MAX_RETIRED: usize = 64;

/// Headroom in front of the bytes of a buffer read ahead: the start of a record cut by the end of
/// the previous read is copied there (a longer one is joined in a buffer of its own).
const AHEAD_ROOM: usize = 64 * 1024;
/// Bytes read ahead into one buffer (one `read` call).
const AHEAD_READ: usize = 256 * 1024;
/// Buffers read ahead and not yet taken.
const AHEAD_DEPTH: usize = 2;

/// Where the bytes come from.
enum Source {
    /// Read here, into the current buffer, when a record needs more bytes.
    Here(Box<dyn Read + Send>),
    /// Read ahead by another thread ([`read_ahead`]).
    Ahead {
        /// Buffers read into; a read error ends them. Closed at the end of the source.
        read: Receiver<io::Result<Chunk>>,
        /// Buffers nobody holds any more, for the thread to read into again.
        back: Sender<Arc<[u8]>>,
        /// Buffers the thread made so far (the others went round).
        made: usize,
    },
}

/// A buffer read ahead.
struct Chunk {
    buf: Arc<[u8]>,
    /// Where its bytes end (they start at [`AHEAD_ROOM`]).
    end: usize,
    /// Buffers the thread made so far.
    made: usize,
}

pub(crate) struct Input {
    src: Source,
    buf: Arc<[u8]>,
    /// Buffers left while someone else held them ([`Input::block`]), to reuse once nobody does.
    retired: Vec<Arc<[u8]>>,
    /// Reading ahead: a buffer a record was joined in, to join the next long one in.
    joined: Option<Arc<[u8]>>,
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
        let mut buf = zeroed(cap);
        if let Some(dst) = Arc::get_mut(&mut buf).and_then(|b| b.get_mut(..head.len())) {
            dst.copy_from_slice(head);
        }
        Input {
            src: Source::Here(src),
            buf,
            retired: Vec::new(),
            joined: None,
            start: 0,
            end: head.len(),
            eof: false,
            offset: 0,
            max_capacity: max_capacity.max(cap),
        }
    }

    /// Like [`Input::new`], but another thread reads `src` ahead (see the module docs); reads in
    /// place if no thread can be started.
    pub(crate) fn ahead(src: Box<dyn Read + Send>, head: &[u8], max_capacity: usize) -> Input {
        let mut input = Input::new(src, head, max_capacity);
        let (tx, read) = sync_channel(AHEAD_DEPTH);
        let (back, rx) = channel();
        // The source goes to the thread once it runs, so it stays here if none can be started.
        let (give, take) = channel::<Box<dyn Read + Send>>();
        let spawned = std::thread::Builder::new()
            .name("read-ahead".into())
            .spawn(move || {
                if let Ok(src) = take.recv() {
                    read_ahead(src, &tx, &rx);
                }
            });
        if spawned.is_ok() {
            let ahead = Source::Ahead {
                read,
                back,
                made: 0,
            };
            let here = std::mem::replace(&mut input.src, ahead);
            if let Source::Here(src) = here {
                // (The thread waits for it: it cannot be gone.)
                let _ = give.send(src);
            }
            // The head alone: the thread's buffers take over at the first fill (a buffer the size
            // of one read in place would only be zeroed, then kept as a spare for joining).
            input.buf = Arc::from(head);
        }
        input
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

    /// The internal buffer, to hold on to: [`Input::slice`]`(pos, len)` is
    /// `block[pos..pos + len]`, and stays so as long as it is held (the input reads into another
    /// buffer then).
    pub(crate) fn block(&self) -> &Arc<[u8]> {
        &self.buf
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
        if matches!(self.src, Source::Ahead { .. }) {
            return self.fill_ahead(n);
        }
        // Make room: move the unconsumed bytes to the front, growing the buffer if one record needs
        // it; into another buffer when someone else holds this one.
        let shared = Arc::get_mut(&mut self.buf).is_none();
        if shared || self.buf.len().saturating_sub(self.start) < n {
            let grown = n
                .checked_next_power_of_two()
                .unwrap_or(n)
                .min(self.max_capacity)
                .max(n);
            let cap = if n > self.buf.len() {
                grown
            } else if shared {
                // A fresh buffer is as large as this record needs, not as large as this one grew
                // for an earlier, larger record: each batch in flight may hold one.
                grown.max(INITIAL_CAPACITY).min(self.buf.len())
            } else {
                self.buf.len()
            };
            let (start, end) = (self.start, self.end);
            if shared || cap > self.buf.len() {
                let mut fresh = self.spare(cap);
                let kept = self.buf.get(start..end).unwrap_or(&[]);
                if let Some(dst) = Arc::get_mut(&mut fresh).and_then(|b| b.get_mut(..kept.len())) {
                    dst.copy_from_slice(kept);
                }
                let old = std::mem::replace(&mut self.buf, fresh);
                self.retire(old);
            } else if let Some(b) = Arc::get_mut(&mut self.buf) {
                b.copy_within(start..end, 0);
            }
            self.end = self.available();
            self.start = 0;
        }
        while self.available() < n {
            if self.eof {
                return Ok(false);
            }
            let (Source::Here(src), Some(space)) = (
                &mut self.src,
                Arc::get_mut(&mut self.buf).and_then(|b| b.get_mut(self.end..)),
            ) else {
                return Ok(false);
            };
            match src.read(space) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end = self.end.saturating_add(k).min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl Input {
    /// A buffer of at least `len` bytes nobody else holds: a retired one, or a new one. Retired
    /// ones nobody holds are freed when they are too small for it (the buffer grew) or more than
    /// four times its size (grown for an earlier, larger record).
    fn spare(&mut self, len: usize) -> Arc<[u8]> {
        let fits = |b: &Arc<[u8]>| b.len() >= len && b.len() / 4 <= len;
        self.retired.retain(|b| fits(b) || Arc::strong_count(b) > 1);
        let free = self
            .retired
            .iter_mut()
            .position(|b| fits(b) && Arc::get_mut(b).is_some());
        match free {
            Some(i) => self.retired.swap_remove(i),
            None => zeroed(len),
        }
    }

    /// Keeps a buffer left while others may hold it, for reuse (one nobody holds is freed).
    fn retire(&mut self, old: Arc<[u8]>) {
        if Arc::strong_count(&old) == 1 {
            return;
        }
        if self.retired.len() >= MAX_RETIRED {
            self.retired.retain(|b| Arc::strong_count(b) > 1);
        }
        self.retired.push(old);
    }
}

impl Input {
    /// [`Input::fill`] from buffers read ahead.
    fn fill_ahead(&mut self, n: usize) -> io::Result<bool> {
        while self.available() < n {
            let Source::Ahead { read, made, .. } = &mut self.src else {
                return Ok(false);
            };
            if self.eof {
                return Ok(false);
            }
            match read.recv() {
                Ok(Ok(chunk)) => {
                    *made = chunk.made;
                    self.append(chunk.buf, chunk.end, n);
                }
                Ok(Err(e)) => {
                    self.eof = true;
                    return Err(e);
                }
                // The end of the source.
                Err(_) => self.eof = true,
            }
        }
        Ok(true)
    }

    /// Takes a buffer read ahead, its bytes at `AHEAD_ROOM..end`, as the current one: the
    /// unconsumed bytes go into its headroom, right in front of them. A record longer than the
    /// headroom is joined in a buffer of its own (rare: a pcapng block of over 64 KB cut by a read),
    /// sized for the `want` bytes asked for, so a record arriving in many pieces is joined in place.
    fn append(&mut self, mut next: Arc<[u8]>, end: usize, want: usize) {
        let (start, kept) = (self.start, self.available());
        if let Some((at, b)) = AHEAD_ROOM.checked_sub(kept).zip(Arc::get_mut(&mut next)) {
            if let (Some(dst), Some(src)) = (b.get_mut(at..AHEAD_ROOM), self.buf.get(start..)) {
                dst.copy_from_slice(src.get(..kept).unwrap_or(&[]));
            }
            let old = std::mem::replace(&mut self.buf, next);
            (self.start, self.end) = (at, end.min(self.buf.len()));
            self.hand_back(old);
            return;
        }
        let bytes = next.get(AHEAD_ROOM..end).unwrap_or(&[]);
        let room = self.buf.len().saturating_sub(self.end) >= bytes.len();
        if let Some(dst) = Arc::get_mut(&mut self.buf)
            .filter(|_| room)
            .and_then(|b| b.get_mut(self.end..)?.get_mut(..bytes.len()))
        {
            // (A record joined piece by piece grows in place once there is room.)
            dst.copy_from_slice(bytes);
            self.end = self.end.saturating_add(bytes.len());
            self.hand_back(next);
            return;
        }
        let len = kept.saturating_add(bytes.len());
        let size = len.max(want);
        let mut joined = match self.joined.take() {
            // (Not one grown for a record many times larger: see `spare`.)
            Some(j) if j.len() >= size && j.len() / 4 <= size => j,
            _ => zeroed(size),
        };
        if Arc::get_mut(&mut joined).is_none() {
            joined = zeroed(size);
        }
        if let (Some(b), Some(src)) = (Arc::get_mut(&mut joined), self.buf.get(start..)) {
            let (front, back) = b.split_at_mut(kept.min(b.len()));
            front.copy_from_slice(src.get(..front.len()).unwrap_or(&[]));
            if let Some(dst) = back.get_mut(..bytes.len()) {
                dst.copy_from_slice(bytes);
            }
        }
        let old = std::mem::replace(&mut self.buf, joined);
        (self.start, self.end) = (0, len);
        self.hand_back(old);
        self.hand_back(next);
    }

    /// Buffers the reading thread made so far (0 when reading in place).
    #[cfg(test)]
    fn buffers_made(&self) -> usize {
        match self.src {
            Source::Ahead { made, .. } => made,
            Source::Here(_) => 0,
        }
    }

    /// A buffer left behind: back to the reading thread once nobody holds it (those held are
    /// kept until they are let go, looked at whenever another is left). Of the others (the first
    /// one, joined ones) the largest is kept to join into again, the rest freed.
    fn hand_back(&mut self, old: Arc<[u8]>) {
        let Source::Ahead { back, .. } = &self.src else {
            return;
        };
        self.retired.push(old);
        let mut i = 0;
        while let Some(b) = self.retired.get(i) {
            if Arc::strong_count(b) > 1 {
                i += 1;
                continue;
            }
            let b = self.retired.swap_remove(i);
            if b.len() == AHEAD_ROOM + AHEAD_READ {
                let _ = back.send(b);
            } else if self.joined.as_ref().is_none_or(|j| j.len() < b.len()) {
                self.joined = Some(b);
            }
        }
    }
}

/// The reading thread of [`Input::ahead`]: reads `src` into buffers ([`AHEAD_READ`] bytes after
/// [`AHEAD_ROOM`]; handed back ones, else new ones) and sends each, until the end of the source, a
/// read error (sent too), or the input is gone.
fn read_ahead(
    mut src: Box<dyn Read + Send>,
    read: &SyncSender<io::Result<Chunk>>,
    back: &Receiver<Arc<[u8]>>,
) {
    let mut made = 0;
    loop {
        let mut buf = back.try_recv().unwrap_or_else(|_| {
            made += 1;
            zeroed(AHEAD_ROOM + AHEAD_READ)
        });
        let Some(space) = Arc::get_mut(&mut buf).and_then(|b| b.get_mut(AHEAD_ROOM..)) else {
            continue;
        };
        let got = loop {
            match src.read(space) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r,
            }
        };
        let sent = match got {
            Ok(0) => return,
            Ok(k) => read.send(Ok(Chunk {
                buf,
                end: AHEAD_ROOM.saturating_add(k),
                made,
            })),
            Err(e) => {
                let _ = read.send(Err(e));
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// A new buffer of `len` zero bytes.
fn zeroed(len: usize) -> Arc<[u8]> {
    std::iter::repeat_n(0u8, len).collect()
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
    use crate::fuzzing::ShortReads;

    #[test]
    fn fills_across_short_reads_and_grows_to_cap() {
        const I: usize = INITIAL_CAPACITY;
        let (cap, big) = (2 * I + I / 2, I + I / 2);
        let data: Vec<u8> = (0..3 * I as u32).map(|i| i as u8).collect();
        let mut input = Input::new(
            Box::new(ShortReads::new(data[3..].to_vec(), 7)),
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

    /// A held buffer keeps its bytes: the input reads into another one, carrying over only the
    /// unconsumed bytes, and takes the held one back once it is let go.
    #[test]
    fn a_held_buffer_keeps_its_bytes_and_is_reused_once_let_go() {
        const I: usize = INITIAL_CAPACITY;
        let data: Vec<u8> = (0..4 * I as u32).map(|i| (i % 251) as u8).collect();
        let mut input = Input::new(Box::new(ShortReads::new(data.clone(), I / 3)), &[], 2 * I);
        assert!(input.fill(I - 10).unwrap());
        let held = Arc::clone(input.block());
        let pos = input.position();
        let before = held[pos..pos + 100].to_vec();
        input.consume(I - 20);
        // 20 unconsumed bytes, and more wanted: read into another buffer.
        assert!(input.fill(1000).unwrap());
        assert!(!Arc::ptr_eq(&held, input.block()));
        assert_eq!(&input.data()[..1000], &data[I - 20..I + 980]);
        assert_eq!(&held[pos..pos + 100], &before[..]);
        // Let go: the next buffer needed is the held one again.
        let first = Arc::as_ptr(&held);
        drop(held);
        let again = Arc::clone(input.block());
        input.consume(1000);
        assert!(input.fill(I / 2).unwrap());
        assert_eq!(Arc::as_ptr(input.block()), first);
        assert_eq!(&input.data()[..I / 2], &data[I + 980..I + 980 + I / 2]);
        drop(again);
        // Nobody holds it: read in place.
        let cur = Arc::as_ptr(input.block());
        input.consume(I / 2);
        assert!(input.fill(I / 2).unwrap());
        assert_eq!(Arc::as_ptr(input.block()), cur);
    }

    /// Holders (the batches of a flow-sharded run) get buffers of the usual size again once a record
    /// that needed a larger one has passed: each batch in flight holds one, so buffers grown for one
    /// record must not be handed on.
    #[test]
    fn a_buffer_grown_for_one_record_is_not_handed_on() {
        const I: usize = INITIAL_CAPACITY;
        let mut lens = vec![1000usize; 20];
        lens.push(4 * I + 123);
        lens.extend(std::iter::repeat_n(1000, 800));
        let total: usize = lens.iter().sum();
        let data: Vec<u8> = (0..total).map(|i| (i % 251) as u8).collect();
        let mut input = Input::new(Box::new(ShortReads::new(data.clone(), I)), &[], 64 * I);
        let mut held = std::collections::VecDeque::new();
        let mut offset = 0;
        let mut largest_after = 0;
        for (k, &len) in lens.iter().enumerate() {
            assert!(input.fill(len).unwrap());
            assert_eq!(
                &input.data()[..len],
                &data[offset..offset + len],
                "record {k}"
            );
            held.push_back(input.block().clone());
            if held.len() > 8 {
                held.pop_front();
            }
            for (pos, b) in held.iter().enumerate() {
                assert!(b.len() >= I, "held buffer {pos}");
            }
            if k > 20 + 300 {
                largest_after = largest_after.max(input.block().len());
            }
            input.consume(len);
            offset += len;
        }
        assert_eq!(largest_after, I, "buffers after the large record");
    }

    /// What reading ahead hands out is what reading in place does: the same bytes at the same
    /// offsets, whatever the pieces the source gives, across records longer than the headroom and
    /// than a whole read; held buffers keep their bytes; the buffers go round instead of being
    /// allocated anew.
    #[test]
    fn reading_ahead_gives_the_bytes_reading_in_place_does() {
        let lens: Vec<usize> = (0..900usize)
            .map(|i| match i % 97 {
                13 => AHEAD_ROOM + 17,
                50 => AHEAD_READ + AHEAD_ROOM / 2,
                71 => 3 * AHEAD_READ + 5,
                _ => 40 + (i * 7919) % 1600,
            })
            .collect();
        let total: usize = lens.iter().sum();
        let data: Vec<u8> = (0..total)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect();
        let cap = 8 * AHEAD_READ;
        for step in [AHEAD_READ + AHEAD_ROOM, 65536, 1000] {
            let mut here = Input::new(
                Box::new(ShortReads::new(data[7..].to_vec(), step)),
                &data[..7],
                cap,
            );
            let mut ahead = Input::ahead(
                Box::new(ShortReads::new(data[7..].to_vec(), step)),
                &data[..7],
                cap,
            );
            let mut held = std::collections::VecDeque::new();
            let mut offset = 0;
            for (k, &len) in lens.iter().enumerate() {
                // A header first, then the whole record, as the reader asks.
                for want in [len.min(16), len] {
                    assert!(here.fill(want).unwrap());
                    assert!(ahead.fill(want).unwrap(), "step {step}, record {k}");
                }
                assert_eq!(ahead.offset(), here.offset());
                let got = ahead.slice(ahead.position(), len);
                assert_eq!(got, &data[offset..offset + len], "step {step}, record {k}");
                assert_eq!(here.data().get(..len), Some(got));
                if k % 5 == 0 {
                    held.push_back((Arc::clone(ahead.block()), ahead.position(), offset, len));
                    if held.len() > 6 {
                        held.pop_front();
                    }
                }
                for (b, pos, at, n) in &held {
                    assert_eq!(&b[*pos..*pos + *n], &data[*at..*at + *n], "a held buffer");
                }
                here.consume(len);
                ahead.consume(len);
                offset += len;
            }
            assert!(!ahead.fill(1).unwrap() && !here.fill(1).unwrap());
            assert_eq!(ahead.offset(), total as u64);
            // In flight: those read ahead, the one being read, the current one, the held ones.
            let made = ahead.buffers_made();
            assert!(
                (1..=AHEAD_DEPTH + 2 + 6 + 1).contains(&made),
                "step {step}: {made} buffers"
            );
        }
    }

    /// A read error reaches the reader after the bytes read before it, and ends the input.
    #[test]
    fn a_read_error_while_reading_ahead_comes_through() {
        struct Fails(usize);
        impl Read for Fails {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = buf.len().min(self.0).min(1000);
                buf[..n].fill(9);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut input = Input::ahead(Box::new(Fails(5000)), &[], 1 << 20);
        assert!(input.fill(5000).unwrap());
        assert!(input.data().iter().all(|&b| b == 9));
        let e = input.fill(5001).unwrap_err();
        assert_eq!(e.to_string(), "disk on fire");
        assert_eq!(input.available(), 5000);
        assert!(!input.fill(5001).unwrap());
    }

    #[test]
    fn read_head_collects_short_reads() {
        let mut t = ShortReads::new(vec![1; 100], 3);
        let mut b = [0u8; 50];
        assert_eq!(read_head(&mut t, &mut b).unwrap(), 50);
        let mut b = [0u8; 80];
        assert_eq!(read_head(&mut t, &mut b).unwrap(), 50);
    }
}
