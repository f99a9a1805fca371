//! Fuzz harnesses: one function per layer, taking arbitrary bytes. The cargo-fuzz targets in `fuzz/`
//! call them, `tests/fuzz_regressions.rs` replays every finding through them, and [`seeds`] turns a
//! real capture into seed inputs for each harness's input format.
//!
//! Each harness panics only when the code under test does (or when one of the invariants it checks
//! fails): no input may make it panic, hang or allocate without bound.
//!
//! Input formats (little-endian):
//! - [`capture_reader`], [`analyze`]: a capture file.
//! - [`decode`]: one byte choosing the fragment limits, then frames: link selector (1 byte, an index
//!   into [`LINK_TYPES`], else the LINKTYPE itself), bytes cut by the snaplen (1 byte, times 16),
//!   length (2 bytes), the frame's bytes.
//! - [`tcp`]: segments: flags (1), control (1: bit 0 direction, bits 2..7 time step), seq (4), ack (4),
//!   payload length (2), bytes cut by the snaplen (2), the payload.
//! - [`tls`]: one byte choosing the handshake message limit, then operations: control (1: bit 0
//!   direction, bit 1 a gap rather than bytes), length (2), the bytes (for a feed).
#![allow(clippy::missing_panics_doc)]

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Cursor};
use std::net::{IpAddr, Ipv4Addr};

use crate::analyze::Options;
use crate::capture::{CaptureReader, Frame, LinkType, Timestamp};
use crate::decode::{Decoded, Decoder, FragmentLimits, IpInfo, TcpFlags, TcpPacket};
use crate::report::json::JsonLinesReport;
use crate::report::text::TextReport;
use crate::report::{ConnReport, ReportSink, Summary};
use crate::tcp::{Assembler, Chunk, Direction, FrameRef, TcpConn};
use crate::tls::TlsSession;

/// Link types the [`decode`] harness's selector byte indexes.
pub const LINK_TYPES: [u32; 16] = [
    0, 1, 9, 12, 14, 50, 51, 101, 104, 108, 113, 204, 228, 229, 276, 258,
];

/// Most bytes the TLS observer may hold for two directions (one partial handshake message at the
/// limit, one SSLv2 record, one HTTP header block, excerpts and sniffing, per direction).
pub fn tls_buffer_bound(max_handshake_message: usize) -> usize {
    2 * (max_handshake_message + 4 + 32 * 1024 + 2 + 8192 + 2048 + 64)
}

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes([self.u8()?, self.u8()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes([
            self.u8()?,
            self.u8()?,
            self.u8()?,
            self.u8()?,
        ]))
    }
    /// Up to `n` bytes (fewer at the end).
    fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// The capture reader: open from memory, read every frame, look at everything it reports.
pub fn capture_reader(data: &[u8]) {
    for name in ["fuzz.pcap", "fuzz.etl"] {
        let Ok(mut r) =
            CaptureReader::from_reader(name.into(), Box::new(Cursor::new(data.to_vec())))
        else {
            continue;
        };
        let mut frames = 0u64;
        let mut last_number = 0u64;
        loop {
            match r.next_frame() {
                Ok(Some(f)) => {
                    frames += 1;
                    assert!(f.number > last_number, "frame numbers go up");
                    last_number = f.number;
                    assert!(f.data.len() <= data.len());
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = e.to_string();
                    break;
                }
            }
        }
        assert!(matches!(r.next_frame(), Ok(None)), "the reader stays done");
        assert_eq!(r.stats().frames, frames);
        let _ = format!("{r:?} {:?}", r.section_comments());
        assert!(r.bytes_read() <= data.len() as u64);
        held_blocks(name, data, frames);
        peeking(name, data, frames);
    }
}

/// The same input, peeking at the next frame's timestamp before each frame as a merge of several
/// inputs does ([`CaptureReader::peek_ts`]): the same frames, at the timestamps peeked, and the end
/// (or the error) where the peek said none comes.
fn peeking(name: &str, data: &[u8], frames: u64) {
    let Ok(mut r) = CaptureReader::from_reader(name.into(), Box::new(Cursor::new(data.to_vec())))
    else {
        return;
    };
    let mut seen = 0u64;
    loop {
        let ts = r.peek_ts();
        assert_eq!(r.peek_ts(), ts, "peeking twice gives the same");
        match r.next_frame() {
            Ok(Some(f)) => {
                assert_eq!(Some(f.ts), ts, "the frame peeked at comes next");
                seen += 1;
            }
            Ok(None) | Err(_) => {
                assert_eq!(ts, None, "no frame peeked at");
                break;
            }
        }
    }
    assert_eq!(seen, frames, "peeking, the same frames");
    assert_eq!(r.stats().frames, frames, "counted once");
}

/// A reader that hands out at most `step` bytes a call, as a pipe on standard input does, so
/// records are cut by the ends of reads (also used by the capture tests).
pub(crate) struct ShortReads {
    data: Cursor<Vec<u8>>,
    step: usize,
}

impl ShortReads {
    pub(crate) fn new(data: Vec<u8>, step: usize) -> Self {
        ShortReads {
            data: Cursor::new(data),
            step: step.max(1),
        }
    }
}

impl io::Read for ShortReads {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.step);
        self.data.read(buf.get_mut(..n).unwrap_or_default())
    }
}

/// The same input read in small pieces (in place or ahead in another thread), holding some frames'
/// read buffers ([`CaptureReader::next_frame_in_block`], as `--threads` does): the frames are the
/// same, and a held buffer keeps the bytes of its frame however many reads come after.
fn held_blocks(name: &str, data: &[u8], frames: u64) {
    let step = usize::from(data.first().copied().unwrap_or(0)) * 61 + 1;
    let pieces = Box::new(ShortReads::new(data.to_vec(), step));
    // Read in place, or ahead in another thread, by the first byte.
    let r = if data.first().is_some_and(|b| b & 1 == 1) {
        CaptureReader::read_ahead(name.into(), pieces)
    } else {
        CaptureReader::from_reader(name.into(), pieces)
    };
    let Ok(mut r) = r else {
        return;
    };
    let mut held: std::collections::VecDeque<(std::sync::Arc<[u8]>, usize, Vec<u8>)> =
        std::collections::VecDeque::new();
    let mut seen = 0u64;
    while let Ok(Some((f, block))) = r.next_frame_in_block() {
        seen += 1;
        let bytes = f.data.to_vec();
        assert_eq!(
            block.block.get(block.pos..block.pos + bytes.len()),
            Some(bytes.as_slice()),
            "the block holds the frame"
        );
        if seen % 3 == 1 {
            held.push_back((std::sync::Arc::clone(block.block), block.pos, bytes));
            if held.len() > 8 {
                held.pop_front();
            }
        }
        for (b, pos, want) in &held {
            assert_eq!(
                b.get(*pos..*pos + want.len()),
                Some(want.as_slice()),
                "a held block keeps its bytes"
            );
        }
    }
    assert_eq!(seen, frames, "read in pieces, the same frames");
}

/// Link, IP, TCP and ICMP decoding with fragment reassembly, frame after frame.
pub fn decode(data: &[u8]) {
    let mut b = Bytes(data);
    let limits = match b.u8() {
        Some(x) if x & 1 == 1 => FragmentLimits {
            max_datagrams: usize::from(x >> 4) + 1,
            max_bytes: 2048,
            timeout_ns: 2_000_000_000,
        },
        _ => FragmentLimits::default(),
    };
    let mut dec = Decoder::with_fragment_limits(limits);
    let mut n = 0u64;
    while let (Some(sel), Some(cut), Some(len)) = (b.u8(), b.u8(), b.u16()) {
        let bytes = b.take(usize::from(len));
        n += 1;
        let link = LINK_TYPES
            .get(usize::from(sel))
            .copied()
            .unwrap_or(u32::from(sel));
        let frame = Frame {
            number: n,
            ts: Timestamp(n * 300_000_000),
            link: LinkType(link),
            interface: 0,
            origlen: (bytes.len() as u32).saturating_add(u32::from(cut) * 16),
            data: bytes,
        };
        match dec.decode(&frame) {
            Decoded::Tcp(p) => {
                assert!(p.payload.len() <= 65_535 + 60);
                let _ = format!("{p:?}");
            }
            Decoded::IcmpError(e) => {
                let _ = e.describe();
            }
            Decoded::Skipped(_) => {}
        }
        assert!(dec.pending_datagrams() <= limits.max_datagrams);
    }
    let s = dec.stats().clone();
    assert_eq!(s.frames, n);
    assert_eq!(
        s.tcp + s.icmp_errors + s.skipped_total(),
        n,
        "every frame is counted once"
    );
    dec.finish();
    assert_eq!(dec.pending_datagrams(), 0);
}

struct Seg<'a> {
    flags: TcpFlags,
    to_server: bool,
    step: u8,
    seq: u32,
    ack: u32,
    payload: &'a [u8],
    missing: u32,
}

fn segments(data: &[u8]) -> Vec<Seg<'_>> {
    let mut b = Bytes(data);
    let mut out = Vec::new();
    while let (Some(fl), Some(ctl), Some(seq), Some(ack), Some(len), Some(missing)) =
        (b.u8(), b.u8(), b.u32(), b.u32(), b.u16(), b.u16())
    {
        out.push(Seg {
            flags: TcpFlags::from_bits(fl),
            to_server: ctl & 1 == 0,
            step: ctl >> 2,
            seq,
            ack,
            payload: b.take(usize::from(len)),
            missing: u32::from(missing),
        });
    }
    out
}

/// Collects a direction's reassembled stream length and checks it is continuous.
#[derive(Default)]
struct Stream {
    delivered: u64,
}

impl Stream {
    fn chunk(&mut self, c: &Chunk<'_>) {
        match c {
            Chunk::Data(d) => {
                assert!(!d.is_empty(), "no empty data chunks");
                self.delivered += d.len() as u64;
            }
            Chunk::Gap(n) => {
                assert!(*n > 0, "no empty gaps");
                self.delivered += n;
            }
        }
    }
}

/// TCP reassembly and connection tracking fed with arbitrary segment sequences.
pub fn tcp(data: &[u8]) {
    const CAP: usize = 4096;
    let segs = segments(data);
    let client = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 40_000u16);
    let server = (IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 443u16);
    let mut conn: Option<TcpConn> = None;
    let mut asm = [Assembler::new(CAP), Assembler::new(CAP)];
    let mut streams = [Stream::default(), Stream::default()];
    let mut ts = 0u64;
    for (i, s) in segs.iter().enumerate() {
        ts += u64::from(s.step) * 1_000_000;
        let (src, dst) = if s.to_server {
            (client, server)
        } else {
            (server, client)
        };
        let pkt = TcpPacket {
            ip: IpInfo {
                src: src.0,
                dst: dst.0,
                ttl: 64,
                ip_id: Some(i as u16),
                dont_fragment: true,
            },
            src_port: src.1,
            dst_port: dst.1,
            seq: s.seq,
            ack: s.ack,
            flags: s.flags,
            window: 512,
            options_raw: std::borrow::Cow::Borrowed(&[]),
            payload: Cow::Borrowed(s.payload),
            payload_missing: s.missing,
        };
        let at = FrameRef::new(i as u64 + 1, 0, i as u64 + 1, Timestamp(ts));
        let c = conn.get_or_insert_with(|| TcpConn::new(&pkt, at, CAP));
        let _ = c.on_packet(&pkt, at, &mut |_, _, _| {});
        assert!(c.buffered() <= 2 * CAP);
        let _ = c.is_closed();
        let _ = c.is_new_syn(&pkt);

        // The bare reassembler, one per direction, with the same segments.
        let d = usize::from(!s.to_server);
        let (mine, peer) = if d == 0 {
            let (a, b) = asm.split_at_mut(1);
            (&mut a[0], &mut b[0])
        } else {
            let (a, b) = asm.split_at_mut(1);
            (&mut b[0], &mut a[0])
        };
        let (mine_stream, peer_stream) = if d == 0 {
            let (a, b) = streams.split_at_mut(1);
            (&mut a[0], &mut b[0])
        } else {
            let (a, b) = streams.split_at_mut(1);
            (&mut b[0], &mut a[0])
        };
        if s.flags.syn() {
            mine.set_isn(s.seq);
        }
        mine.push(s.seq, s.payload, s.missing, &mut |c| mine_stream.chunk(&c));
        if s.flags.ack() && peer.anchored() {
            peer.peer_acked(s.ack, &mut |c| peer_stream.chunk(&c));
        }
        if s.flags.fin() || s.flags.rst() {
            mine.flush(&mut |c| mine_stream.chunk(&c));
        }
        if s.flags.urg() {
            mine.release_buffers(&mut |c| mine_stream.chunk(&c));
        }
        for (a, st) in asm.iter().zip(streams.iter()) {
            assert_eq!(
                a.next_offset(),
                st.delivered,
                "the stream has no holes or overlaps"
            );
            assert!(a.buffered() <= CAP, "the buffer stays within its cap");
        }
    }
    if let Some(c) = conn.as_mut() {
        let last = c.last;
        c.flush(last, &mut |_, _, _| {});
        assert_eq!(c.buffered(), 0);
        let _ = c.segments_of(Direction::ToServer, 0, u64::MAX);
        let _ = c.first_ack_covering(Direction::ToClient, 1);
    }
    for (a, st) in asm.iter_mut().zip(streams.iter_mut()) {
        a.flush(&mut |c| st.chunk(&c));
        assert_eq!(a.next_offset(), st.delivered);
        assert_eq!(a.buffered(), 0);
    }
}

/// The TLS/HTTP observer fed with arbitrary byte streams and gaps in both directions.
pub fn tls(data: &[u8]) {
    let mut b = Bytes(data);
    let max_hs = match b.u8() {
        Some(0) | None => crate::tls::MAX_HANDSHAKE_MESSAGE,
        Some(x) => usize::from(x) * 256,
    };
    let mut s = TlsSession::new();
    s.set_max_handshake_message(max_hs);
    let bound = tls_buffer_bound(max_hs.max(4));
    let mut out = Vec::new();
    let mut pos = [0u64; 2];
    while let (Some(ctl), Some(len)) = (b.u8(), b.u16()) {
        let dir = if ctl & 1 == 0 {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        if ctl & 2 != 0 {
            let n = u64::from(len) * (u64::from(ctl >> 2) + 1);
            s.gap(dir, n, &mut out);
            pos[dir.index()] += n;
        } else {
            let bytes = b.take(usize::from(len));
            s.feed(dir, bytes, &mut out);
            pos[dir.index()] += bytes.len() as u64;
        }
        for e in out.drain(..) {
            assert!(e.start <= e.end, "{e:?}");
            assert!(e.start <= pos[e.dir.index()], "{e:?} starts beyond {pos:?}");
            let _ = crate::analyze::event_label(&e.kind);
        }
        assert!(
            s.buffered_bytes() <= bound,
            "{} bytes buffered (bound {bound})",
            s.buffered_bytes()
        );
    }
    let _ = (s.progress(), s.version(), s.is_tls(), s.is_complete());
    let _ = format!(
        "{:?} {:?} {:?} {:?}",
        s.client_hellos(),
        s.server_hello(),
        s.certificates(),
        s.http_response()
    );
}

/// Options with small limits, so that the fuzzer reaches every limit path.
pub fn small_limits() -> Options {
    Options {
        max_connections: 8,
        max_out_of_order: 4096,
        max_buffered_total: 32 * 1024,
        max_events: 8,
        max_handshake_message: 2048,
        fragments: FragmentLimits {
            max_datagrams: 4,
            max_bytes: 8192,
            timeout_ns: 5_000_000_000,
        },
        ..Options::default()
    }
}

/// Both printers at once.
struct Both<A, B>(A, B);

impl<A: ReportSink, B: ReportSink> ReportSink for Both<A, B> {
    fn begin(&mut self, inputs: &[String]) -> io::Result<()> {
        self.0.begin(inputs)?;
        self.1.begin(inputs)
    }
    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        self.0.connection(c)?;
        self.1.connection(c)
    }
    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        self.0.finish(s)?;
        self.1.finish(s)
    }
}

/// The whole pipeline on one capture file held in memory, printed as text (every connection, with
/// ladders) and as JSON, with small limits when the input's length is odd and the defaults otherwise.
pub fn analyze(data: &[u8]) {
    let opts = if data.len() % 2 == 1 {
        small_limits()
    } else {
        Options::default()
    };
    analyze_with(data, opts);
}

/// [`analyze`] with given options; returns the summary.
pub fn analyze_with(data: &[u8], opts: Options) -> Summary {
    let mut sink = Both(
        TextReport::new(io::sink(), true, true),
        JsonLinesReport::new(io::sink()),
    );
    // One input; or, for one length in three, the same input twice, which overlaps itself
    // entirely: every frame goes through the merge of several inputs.
    let names = if data.len() % 3 == 0 {
        vec!["fuzz.pcapng".to_string(), "again.pcapng".to_string()]
    } else {
        vec!["fuzz.pcapng".to_string()]
    };
    let summary = crate::run::run_with(&names, opts, &mut sink, &mut |name, _| {
        CaptureReader::from_reader(name.to_string(), Box::new(Cursor::new(data.to_vec())))
    })
    .expect("writing to a sink cannot fail");
    let _ = crate::run::exit_status(&summary);
    summary
}

/// Seed inputs for each harness, made from a real capture.
#[derive(Debug, Default)]
pub struct Seeds {
    pub decode: Vec<Vec<u8>>,
    pub tcp: Vec<Vec<u8>>,
    pub tls: Vec<Vec<u8>>,
}

/// Turns a capture into seeds: its frames (in [`decode`]'s format, at most 64 per seed), the segments
/// of each of its TCP connections ([`tcp`]'s format) and their reassembled streams ([`tls`]'s format).
pub fn seeds(capture: &[u8]) -> Seeds {
    let mut out = Seeds::default();
    let Ok(mut r) =
        CaptureReader::from_reader("seed".into(), Box::new(Cursor::new(capture.to_vec())))
    else {
        return out;
    };
    let mut dec = Decoder::new();
    let mut frames = vec![0u8];
    let mut n_frames = 0;
    type Key = (IpAddr, u16, IpAddr, u16);
    let mut flows: HashMap<Key, (Vec<u8>, Vec<u8>, TcpConn, usize)> = HashMap::new();
    let mut order: Vec<Key> = Vec::new();
    while let Ok(Some(f)) = r.next_frame() {
        if n_frames < 64 {
            let sel = LINK_TYPES
                .iter()
                .position(|&l| l == f.link.0)
                .map_or(255, |i| i as u8);
            let len = f.data.len().min(usize::from(u16::MAX));
            frames.push(sel);
            let cut = f.origlen.saturating_sub(f.data.len() as u32) / 16;
            frames.push(cut.min(255) as u8);
            frames.extend_from_slice(&(len as u16).to_le_bytes());
            frames.extend_from_slice(&f.data[..len]);
            n_frames += 1;
        }
        let at = FrameRef::new(f.number, 0, f.number, f.ts);
        let Decoded::Tcp(p) = dec.decode(&f) else {
            continue;
        };
        let a = (p.ip.src, p.src_port);
        let b = (p.ip.dst, p.dst_port);
        let key = if a <= b {
            (a.0, a.1, b.0, b.1)
        } else {
            (b.0, b.1, a.0, a.1)
        };
        let entry = flows.entry(key).or_insert_with(|| {
            order.push(key);
            (vec![], vec![0u8], TcpConn::new(&p, at, 1 << 20), 0)
        });
        let (segs, tls, conn, count) = entry;
        if *count >= 256 {
            continue;
        }
        *count += 1;
        let to_server = conn.direction_of(p.ip.src, p.src_port) == Direction::ToServer;
        let fl = p.flags;
        let flags = u8::from(fl.fin())
            | u8::from(fl.syn()) << 1
            | u8::from(fl.rst()) << 2
            | u8::from(fl.psh()) << 3
            | u8::from(fl.ack()) << 4;
        segs.push(flags);
        segs.push(u8::from(!to_server));
        segs.extend_from_slice(&p.seq.to_le_bytes());
        segs.extend_from_slice(&p.ack.to_le_bytes());
        let len = p.payload.len().min(usize::from(u16::MAX));
        segs.extend_from_slice(&(len as u16).to_le_bytes());
        segs.extend_from_slice(&(p.payload_missing.min(65_535) as u16).to_le_bytes());
        segs.extend_from_slice(&p.payload[..len]);
        conn.on_packet(&p, at, &mut |dir, chunk, _| {
            let d = u8::from(dir == Direction::ToClient);
            match chunk {
                Chunk::Data(bytes) => {
                    for piece in bytes.chunks(usize::from(u16::MAX)) {
                        tls.push(d);
                        tls.extend_from_slice(&(piece.len() as u16).to_le_bytes());
                        tls.extend_from_slice(piece);
                    }
                }
                Chunk::Gap(g) => {
                    tls.push(d | 2);
                    tls.extend_from_slice(&(g.min(65_535) as u16).to_le_bytes());
                }
            }
        });
    }
    if n_frames > 0 {
        out.decode.push(frames);
    }
    for k in order {
        if let Some((segs, tls, _, _)) = flows.remove(&k) {
            out.tcp.push(segs);
            if tls.len() > 1 {
                out.tls.push(tls);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harnesses_accept_seeds_from_a_real_capture() {
        let cap = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/captures/tls12_ok.pcap"
        ))
        .expect("capture");
        let s = seeds(&cap);
        assert_eq!(s.decode.len(), 1);
        assert!(!s.tcp.is_empty() && !s.tls.is_empty());
        capture_reader(&cap);
        analyze(&cap);
        for d in &s.decode {
            decode(d);
        }
        for t in &s.tcp {
            tcp(t);
        }
        for t in &s.tls {
            tls(t);
        }
        let sum = analyze_with(&cap, Options::default());
        assert_eq!(sum.totals.connections, 1);
    }

    #[test]
    fn harnesses_accept_nothing_and_garbage() {
        for data in [&b""[..], b"\x00", b"\xff\xff\xff\xff\xff\xff\xff\xff"] {
            capture_reader(data);
            decode(data);
            tcp(data);
            tls(data);
            analyze(data);
        }
    }
}
