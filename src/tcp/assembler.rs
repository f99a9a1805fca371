//! Reassembly of one direction of a TCP connection, for a passive observer.
//!
//! In-order bytes are handed out at once and not kept; only out-of-order segments are buffered, up to a
//! byte cap. Holes are declared (handed out as [`Chunk::Gap`]) when the capture provably lost bytes:
//! a snaplen cut, the peer acknowledging bytes the capture never saw, the buffer cap, or the end of the
//! connection. Overlaps are resolved first-wins; a retransmission whose bytes differ from what was
//! delivered is counted as inconsistent.
//!
//! Offsets are 64-bit positions relative to the first payload byte (ISN + 1), so 32-bit sequence
//! wrap-around is invisible above this type.

use std::collections::{BTreeMap, VecDeque};

/// A piece of the in-order stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Chunk<'a> {
    /// Bytes, continuing the stream.
    Data(&'a [u8]),
    /// This many bytes were never seen.
    Gap(u64),
}

/// Counters for one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Segments whose bytes had all been delivered already.
    pub retransmissions: u64,
    /// Retransmitted bytes that differed from those delivered first.
    pub inconsistent_bytes: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Bytes declared missing.
    pub missed_bytes: u64,
    /// Times the out-of-order buffer hit its cap.
    pub cap_hits: u64,
}

/// Reassembler for one direction.
#[derive(Debug)]
pub struct Assembler {
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Next offset to deliver.
    next: u64,
    /// Out-of-order segments by offset.
    pending: BTreeMap<u64, Vec<u8>>,
    pending_bytes: usize,
    cap: usize,
    /// The last delivered bytes are kept (a small window) to check retransmissions for consistency.
    /// A ring (no shifting when it is full); it grows to [`RECENT_WINDOW`] only as data comes.
    recent: VecDeque<u8>,
    stats: AssemblerStats,
}

const RECENT_WINDOW: usize = 4096;
/// Retransmitted bytes are compared with the originals only within this many bytes of a stream's
/// start (where the handshake is); later retransmissions are still counted.
const REMEMBER_UNTIL: u64 = 64 * 1024;

impl Assembler {
    /// A reassembler that buffers at most `cap` bytes of out-of-order data.
    pub fn new(cap: usize) -> Self {
        Assembler {
            base: None,
            next: 0,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            cap,
            recent: VecDeque::new(),
            stats: AssemblerStats::default(),
        }
    }

    /// Anchor the stream at a SYN's sequence number (first payload byte is `isn + 1`).
    /// Ignored once anchored.
    pub fn set_isn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// True once the stream has an anchor (a SYN or a first data segment).
    pub fn anchored(&self) -> bool {
        self.base.is_some()
    }

    /// Offset of the next byte to deliver.
    pub fn next_offset(&self) -> u64 {
        self.next
    }

    /// Counters.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Bytes currently buffered out of order.
    pub fn buffered(&self) -> usize {
        self.pending_bytes
    }

    /// Bytes held: the out-of-order buffer and the window kept to check retransmissions.
    pub fn retained(&self) -> usize {
        self.pending_bytes.saturating_add(self.recent.capacity())
    }

    /// Gives up what is held to save memory: holes before buffered data are declared as gaps (as at
    /// the end of the connection) and the retransmission-check window is forgotten.
    pub fn release_buffers(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        self.flush(out);
        self.recent = VecDeque::new();
    }

    /// Frees the out-of-order buffer and the retransmission-check window without delivering
    /// anything (the connection was judged; only its counters are still read).
    pub fn release_memory(&mut self) {
        self.pending = BTreeMap::new();
        self.pending_bytes = 0;
        self.forget_recent();
    }

    /// Forgets the retransmission-check window (the connection is over: a closed connection is
    /// judged after a short grace and need not hold kilobytes per direction meanwhile).
    pub fn forget_recent(&mut self) {
        self.recent = VecDeque::new();
    }

    /// Stream offset of a sequence number, unwrapped around the next expected offset.
    /// `None` before the stream is anchored.
    pub fn offset_of(&self, seq: u32) -> Option<u64> {
        let base = self.base?;
        let next_seq = base.wrapping_add(self.next as u32);
        let diff = seq.wrapping_sub(next_seq) as i32 as i64;
        let off = self.next as i64 + diff;
        // Bytes before the anchor (e.g. a retransmission of data from before a midstream start).
        Some(off.max(0) as u64)
    }

    /// Feed a segment: `payload` captured bytes at `seq`, followed by `missing` bytes the capture cut.
    /// In-order data is handed to `out` immediately.
    pub fn push(&mut self, seq: u32, payload: &[u8], missing: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        if payload.is_empty() && missing == 0 {
            return;
        }
        // The common case: the next bytes of the stream, whole, and nothing waiting behind a hole.
        if missing == 0 && self.pending.is_empty() && self.offset_of(seq) == Some(self.next) {
            self.deliver(payload, out);
            return;
        }
        if self.base.is_none() {
            // Midstream: the first segment we see anchors the stream.
            self.base = Some(seq);
        }
        let Some(start) = self.offset_of(seq) else {
            return;
        };
        let seg_len = payload.len() as u64 + u64::from(missing);
        let end = start + seg_len;
        if end <= self.next {
            self.stats.retransmissions += 1;
            self.check_consistency(start, payload);
            return;
        }
        if start > self.next {
            self.stats.out_of_order += 1;
            self.buffer(start, payload, missing, out);
            return;
        }
        // Overlaps or continues the delivered stream: deliver the new part.
        let skip = (self.next - start) as usize;
        if skip > 0 {
            self.stats.retransmissions += 1;
            self.check_consistency(start, payload.get(..skip.min(payload.len())).unwrap_or(&[]));
        }
        if skip < payload.len() {
            let fresh = payload.get(skip..).unwrap_or(&[]);
            self.deliver(fresh, out);
        }
        let cut_start = start + payload.len() as u64;
        if missing > 0 && end > self.next {
            let gap_from = cut_start.max(self.next);
            let gap = end - gap_from;
            self.declare_gap(gap, out);
        }
        self.drain(out);
    }

    /// The peer acknowledged up to `ack`: bytes below it that we have not seen were lost by the capture.
    pub fn peer_acked(&mut self, ack: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        let Some(ack_off) = self.offset_of(ack) else {
            return;
        };
        // An ACK one past our data may just be acknowledging a FIN: only act on a clear excess.
        if ack_off <= self.next + 1 {
            return;
        }
        let hole_end = match self.pending.keys().next() {
            Some(&first) => first.min(ack_off),
            None => ack_off,
        };
        if hole_end > self.next {
            self.declare_gap(hole_end - self.next, out);
            self.drain(out);
        }
    }

    /// Give up on holes: deliver everything buffered, declaring the holes as gaps. Used at FIN/RST,
    /// at the end of the capture, and when the cap is hit.
    pub fn flush(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some((&off, _)) = self.pending.iter().next() {
            if off > self.next {
                self.declare_gap(off - self.next, out);
            }
            self.drain(out);
        }
    }

    fn buffer(&mut self, start: u64, payload: &[u8], missing: u32, out: &mut dyn FnMut(Chunk<'_>)) {
        if payload.is_empty() {
            // Only a cut: nothing to keep, the hole shows when data behind it arrives.
            return;
        }
        if let Some(existing) = self.pending.get(&start) {
            if existing.len() >= payload.len() {
                self.stats.retransmissions += 1;
                return;
            }
        }
        if self.pending_bytes + payload.len() > self.cap {
            self.stats.cap_hits += 1;
            self.flush(out);
            if start > self.next {
                self.declare_gap(start - self.next, out);
            }
            self.push_offset(start, payload, missing, out);
            return;
        }
        self.pending_bytes += payload.len();
        if let Some(old) = self.pending.insert(start, payload.to_vec()) {
            self.pending_bytes -= old.len();
        }
        let _ = missing; // the hole after a cut segment is found when later data arrives
    }

    /// Deliver a segment known to start at or before `next` (used after a forced flush).
    fn push_offset(
        &mut self,
        start: u64,
        payload: &[u8],
        missing: u32,
        out: &mut dyn FnMut(Chunk<'_>),
    ) {
        let skip = self.next.saturating_sub(start) as usize;
        if let Some(fresh) = payload.get(skip..) {
            self.deliver(fresh, out);
        }
        if missing > 0 {
            self.declare_gap(u64::from(missing), out);
        }
    }

    /// Deliver pending segments that now continue the stream.
    fn drain(&mut self, out: &mut dyn FnMut(Chunk<'_>)) {
        while let Some((&off, _)) = self.pending.iter().next() {
            if off > self.next {
                break;
            }
            let Some(seg) = self.pending.remove(&off) else {
                break;
            };
            self.pending_bytes -= seg.len();
            let end = off + seg.len() as u64;
            if end <= self.next {
                self.stats.retransmissions += 1;
                self.check_consistency(off, &seg);
                continue;
            }
            let skip = (self.next - off) as usize;
            if let Some(fresh) = seg.get(skip..) {
                self.deliver(fresh, out);
            }
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut dyn FnMut(Chunk<'_>)) {
        if data.is_empty() {
            return;
        }
        self.next += data.len() as u64;
        self.remember(data);
        out(Chunk::Data(data));
    }

    fn declare_gap(&mut self, len: u64, out: &mut dyn FnMut(Chunk<'_>)) {
        if len == 0 {
            return;
        }
        self.next += len;
        self.stats.missed_bytes += len;
        self.recent.clear();
        out(Chunk::Gap(len));
    }

    fn remember(&mut self, data: &[u8]) {
        // Consistency of retransmissions matters where the handshake is: past that, keep nothing.
        if self.next > REMEMBER_UNTIL {
            self.recent.clear();
            return;
        }
        let data = data
            .get(data.len().saturating_sub(RECENT_WINDOW)..)
            .unwrap_or(data);
        let keep = RECENT_WINDOW - data.len();
        if self.recent.len() > keep {
            let drop = self.recent.len() - keep;
            self.recent.drain(..drop);
        }
        let want = self.recent.len() + data.len();
        if want > self.recent.capacity() {
            // Grow by doubling, but never past the window.
            let cap = want.max(self.recent.capacity() * 2).min(RECENT_WINDOW);
            self.recent.reserve_exact(cap - self.recent.len());
        }
        self.recent.extend(data);
    }

    /// Compare retransmitted bytes with what was delivered, where still remembered.
    fn check_consistency(&mut self, start: u64, bytes: &[u8]) {
        let recent_start = self.next - self.recent.len() as u64;
        for (i, b) in bytes.iter().enumerate() {
            let off = start + i as u64;
            if off < recent_start || off >= self.next {
                continue;
            }
            let idx = (off - recent_start) as usize;
            if self.recent.get(idx).is_some_and(|r| r != b) {
                self.stats.inconsistent_bytes += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Collect the stream as bytes, with gaps as zero bytes, plus the gap total.
    fn run(a: &mut Assembler, segs: &[(u32, Vec<u8>)]) -> (Vec<u8>, u64) {
        let mut got = Vec::new();
        let mut gaps = 0;
        for (seq, p) in segs {
            a.push(*seq, p, 0, &mut |c| match c {
                Chunk::Data(d) => got.extend_from_slice(d),
                Chunk::Gap(n) => {
                    gaps += n;
                    got.extend(std::iter::repeat_n(0u8, n as usize));
                }
            });
        }
        a.flush(&mut |c| match c {
            Chunk::Data(d) => got.extend_from_slice(d),
            Chunk::Gap(n) => {
                gaps += n;
                got.extend(std::iter::repeat_n(0u8, n as usize));
            }
        });
        (got, gaps)
    }

    #[test]
    fn in_order_and_out_of_order() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(1000);
        let segs = vec![
            (1001, b"hello ".to_vec()),
            (1012, b"!".to_vec()),
            (1007, b"world".to_vec()),
        ];
        let (got, gaps) = run(&mut a, &segs);
        assert_eq!(got, b"hello world!");
        assert_eq!(gaps, 0);
        assert_eq!(a.stats().out_of_order, 1);
    }

    #[test]
    fn sequence_wraps() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(u32::MAX - 2);
        let segs = vec![(u32::MAX - 1, b"abcd".to_vec()), (2, b"efgh".to_vec())];
        let (got, _) = run(&mut a, &segs);
        assert_eq!(got, b"abcdefgh");
    }

    #[test]
    fn inconsistent_retransmission_is_counted_first_wins() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(0);
        let segs = vec![(1, b"abcd".to_vec()), (1, b"abXd".to_vec())];
        let (got, _) = run(&mut a, &segs);
        assert_eq!(got, b"abcd");
        assert_eq!(a.stats().inconsistent_bytes, 1);
        assert_eq!(a.stats().retransmissions, 1);
    }

    #[test]
    fn snaplen_cut_becomes_gap() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(0);
        let mut got = Vec::new();
        a.push(1, b"ab", 3, &mut |c| got.push(format!("{c:?}")));
        a.push(6, b"fg", 0, &mut |c| got.push(format!("{c:?}")));
        assert_eq!(got, vec!["Data([97, 98])", "Gap(3)", "Data([102, 103])"]);
        assert_eq!(a.stats().missed_bytes, 3);
    }

    #[test]
    fn ack_beyond_seen_data_declares_loss() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(0);
        let mut got = Vec::new();
        a.push(1, b"ab", 0, &mut |c| got.push(format!("{c:?}")));
        a.push(10, b"zz", 0, &mut |c| got.push(format!("{c:?}")));
        a.peer_acked(12, &mut |c| got.push(format!("{c:?}")));
        assert_eq!(got, vec!["Data([97, 98])", "Gap(7)", "Data([122, 122])"]);
    }

    #[test]
    fn ack_of_fin_is_not_a_gap() {
        let mut a = Assembler::new(1 << 20);
        a.set_isn(0);
        let mut n = 0;
        a.push(1, b"ab", 0, &mut |_| n += 1);
        a.peer_acked(4, &mut |_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(a.stats().missed_bytes, 0);
    }

    #[test]
    fn cap_forces_flush_with_gap() {
        let mut a = Assembler::new(8);
        a.set_isn(0);
        let segs = vec![(11, b"12345678".to_vec()), (21, b"abcdefgh".to_vec())];
        let mut gaps = 0;
        let mut data = 0;
        for (s, p) in &segs {
            a.push(*s, p, 0, &mut |c| match c {
                Chunk::Data(d) => data += d.len(),
                Chunk::Gap(n) => gaps += n,
            });
        }
        assert_eq!(a.stats().cap_hits, 1);
        assert_eq!(data, 16);
        assert_eq!(gaps, 12);
        assert!(a.buffered() <= 8);
    }

    #[test]
    fn midstream_anchors_on_first_segment() {
        let mut a = Assembler::new(1 << 20);
        let (got, _) = run(&mut a, &[(5000, b"xy".to_vec()), (5002, b"z".to_vec())]);
        assert_eq!(got, b"xyz");
    }

    proptest! {
        /// Any segmentation, reordering and duplication of a stream yields the same bytes, as long as
        /// every byte is covered by some segment.
        #[test]
        fn any_segmentation_and_order_gives_the_same_stream(
            data in proptest::collection::vec(any::<u8>(), 1..3000),
            isn in any::<u32>(),
            cuts in proptest::collection::vec(1usize..400, 1..40),
            order_seed in any::<u64>(),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
        ) {
            let mut segs = Vec::new();
            let mut pos = 0usize;
            let mut i = 0;
            while pos < data.len() {
                let len = cuts[i % cuts.len()].min(data.len() - pos);
                segs.push((isn.wrapping_add(1).wrapping_add(pos as u32), data[pos..pos + len].to_vec()));
                pos += len;
                i += 1;
            }
            for d in &dups {
                let s = segs[d.index(segs.len())].clone();
                segs.push(s);
            }
            // Deterministic shuffle.
            let mut state = order_seed | 1;
            for k in (1..segs.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                segs.swap(k, (state % (k as u64 + 1)) as usize);
            }
            let mut a = Assembler::new(1 << 20);
            a.set_isn(isn);
            let (got, gaps) = run(&mut a, &segs);
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(got, data);
            prop_assert_eq!(a.stats().inconsistent_bytes, 0);
        }

        /// Overlapping segments with the same bytes at random offsets also reassemble exactly.
        #[test]
        fn overlapping_segments(
            data in proptest::collection::vec(any::<u8>(), 1..2000),
            ranges in proptest::collection::vec((0usize..2000, 1usize..300), 1..60),
        ) {
            let mut segs: Vec<(u32, Vec<u8>)> = ranges.iter().filter_map(|&(s, l)| {
                let s = s % data.len();
                let e = (s + l).min(data.len());
                Some((1 + s as u32, data.get(s..e)?.to_vec()))
            }).collect();
            // Make sure everything is covered.
            segs.push((1, data.clone()));
            segs.rotate_left(1);
            let mut a = Assembler::new(1 << 20);
            a.set_isn(0);
            let (got, gaps) = run(&mut a, &segs);
            prop_assert_eq!(gaps, 0);
            prop_assert_eq!(got, data);
        }
    }
}
