//! One TCP connection as a passive observer sees it: who is client and server, the handshake packets,
//! the first RST and FIN of each side, TTL / IP ID / window of the packets that matter, and the two
//! reassembled byte streams (handed to the caller as [`Chunk`]s).

use std::net::{IpAddr, SocketAddr};

use super::assembler::{Assembler, AssemblerStats, Chunk};
use super::Direction;
use crate::capture::Timestamp;
use crate::decode::{TcpFlags, TcpPacket};

/// Where a packet is in the input: its place in the run, its file index (in command-line order),
/// its frame number, its timestamp. Ordered by the place in the run, which is the order the frames
/// were analysed in (several inputs are read in time order, [`crate::capture::read_merged`], so
/// file and frame number alone do not order them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameRef {
    /// The place in the run in the high 48 bits, the file index in the low 16: one word, first,
    /// so that it orders (a connection keeps hundreds of these: see `tests/memory.rs`).
    place: u64,
    pub frame: u64,
    pub ts: Timestamp,
}

impl FrameRef {
    /// Frame `frame` of file `file`, at `ts`, the `seq`th of the run (1-based over all inputs;
    /// beyond 2^48 frames, the last place).
    pub fn new(seq: u64, file: u16, frame: u64, ts: Timestamp) -> FrameRef {
        FrameRef {
            place: seq.min(u64::MAX >> 16) << 16 | u64::from(file),
            frame,
            ts,
        }
    }

    /// Its place in the run: 1-based over all inputs, in the order read.
    #[inline]
    pub fn seq(self) -> u64 {
        self.place >> 16
    }

    /// Its file's index, in command-line order.
    #[inline]
    pub fn file(self) -> u16 {
        self.place as u16
    }
}

/// The header facts of one packet that a verdict may cite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketFacts {
    pub at: FrameRef,
    pub dir: Direction,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    /// Payload length on the wire (captured + cut).
    pub len: u32,
    pub ttl: u8,
    pub ip_id: Option<u16>,
    pub window: u16,
}

/// How the client was told from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RoleBasis {
    /// The client sent the SYN.
    Syn,
    /// The server sent the SYN-ACK (the SYN was not captured).
    SynAck,
    /// The first payload was a ClientHello / HTTP request (or a ServerHello / HTTP response).
    Payload,
    /// Guessed from port numbers: the lower or well-known port is the server.
    PortGuess,
}

/// Per-side facts (index with [`Direction::index`]: facts of packets sent in that direction).
#[derive(Clone, Debug, Default)]
pub struct SideFacts {
    pub packets: u64,
    pub payload_bytes: u64,
    pub first_packet: Option<PacketFacts>,
    pub last_packet: Option<PacketFacts>,
    pub first_data: Option<PacketFacts>,
    pub last_data: Option<PacketFacts>,
    pub first_fin: Option<PacketFacts>,
    pub first_rst: Option<PacketFacts>,
    pub rst_count: u32,
    /// Sequence numbers of RSTs differ (a sign of injection).
    pub rst_seq_varies: bool,
    /// Packets this side sent after its own first RST, and the first of them.
    pub after_rst: u32,
    pub first_after_rst: Option<PacketFacts>,
    /// Lowest and highest TTL / hop limit seen.
    pub ttl_min: u8,
    pub ttl_max: u8,
    /// ACK advances of this side over the peer's stream: (peer stream offset acknowledged, packet).
    /// The first [`ACK_HISTORY`] are kept.
    pub acks: Vec<(u64, FrameRef)>,
    /// Zero-window advertisements.
    pub zero_windows: u32,
    /// The first acknowledgment number this side sent, and whether a later one differed: a side whose
    /// ACKs move has received bytes, even when the capture shows none from the peer.
    pub first_ack: Option<u32>,
    pub ack_moved: bool,
}

/// How many ACK advances per side are kept.
pub const ACK_HISTORY: usize = 32;
/// How many data segments per direction are kept for mapping stream offsets to frames.
pub const SEGMENT_MAP: usize = 96;
/// How many ladder rows are kept from the start of a connection, and from its end.
pub const LADDER_HEAD: usize = 64;
pub const LADDER_TAIL: usize = 12;

/// Pushes `item`, making room for `room` items at once on the first push. A connection's lists
/// (ladder rows, segment map, ACK history, TLS events) hold about a handshake's worth; a `Vec`
/// grows from 4, each growth a new allocation and a copy.
pub(crate) fn push_with_room<T>(v: &mut Vec<T>, room: usize, item: T) {
    if v.capacity() == 0 {
        v.reserve_exact(room);
    }
    v.push(item);
}

/// What [`TcpConn::segments_of`] found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentsOf {
    /// Distinct data segments (retransmissions not counted).
    pub count: u32,
    /// The packet of the first and of the last of them.
    pub first: Option<FrameRef>,
    pub last: Option<FrameRef>,
}

/// One row of a ladder diagram.
#[derive(Clone, Debug)]
pub struct LadderRow {
    pub at: FrameRef,
    pub dir: Direction,
    pub flags: TcpFlags,
    /// Relative sequence / ack numbers (offsets in the sender's / receiver's stream).
    pub rel_seq: u64,
    pub len: u32,
    pub ttl: u8,
    /// Labels added by upper layers (TLS message names, HTTP status...): [`LadderRow::labels`].
    /// Boxed: most rows have none, and a row is kept for each of a connection's first 64 packets
    /// (8 bytes per row instead of a `Vec`'s 24; the extra allocation is only for labelled rows).
    #[allow(clippy::box_collection)]
    labels: Option<Box<Vec<String>>>,
    /// Set when this row is a capture duplicate of the previous one.
    pub duplicate: bool,
}

impl LadderRow {
    /// Labels added by upper layers (TLS message names, HTTP status...), in the order added.
    pub fn labels(&self) -> &[String] {
        self.labels.as_deref().map_or(&[], Vec::as_slice)
    }
}

/// The packets of a connection for a ladder diagram: the first [`LADDER_HEAD`] and the last [`LADDER_TAIL`].
#[derive(Clone, Debug, Default)]
pub struct Ladder {
    pub head: Vec<LadderRow>,
    /// The last rows, a ring once full: the oldest is at `tail_start` ([`Ladder::rows`] gives
    /// them in order). A full ring's oldest row is overwritten in place (no shifting).
    tail: Vec<LadderRow>,
    tail_start: usize,
    /// Rows dropped between head and tail.
    pub omitted: u64,
}

impl Ladder {
    fn push(&mut self, row: LadderRow) {
        if self.head.len() < LADDER_HEAD {
            // A handshake is about a dozen packets.
            push_with_room(&mut self.head, 16, row);
            return;
        }
        if self.tail.len() < LADDER_TAIL {
            self.tail.push(row);
            return;
        }
        if let Some(oldest) = self.tail.get_mut(self.tail_start) {
            *oldest = row;
            self.tail_start = (self.tail_start + 1) % LADDER_TAIL;
            self.omitted += 1;
        }
    }

    /// Add a label to the row of `frame`, if that row is still kept.
    pub fn label(&mut self, at: FrameRef, label: String) {
        let start = self.tail_start.min(self.tail.len());
        let (newer, older) = self.tail.split_at_mut(start);
        let row = self
            .head
            .iter_mut()
            .rev()
            .chain(newer.iter_mut().rev())
            .chain(older.iter_mut().rev())
            .find(|r| r.at == at && !r.duplicate);
        if let Some(row) = row {
            let labels = row.labels.get_or_insert_with(Box::default);
            if !labels.contains(&label) && labels.len() < 8 {
                labels.push(label);
            }
        }
    }

    /// Every kept row, in no particular order.
    fn rows_mut(&mut self) -> impl Iterator<Item = &mut LadderRow> {
        self.head.iter_mut().chain(self.tail.iter_mut())
    }

    /// All kept rows in order.
    pub fn rows(&self) -> impl Iterator<Item = &LadderRow> {
        let start = self.tail_start.min(self.tail.len());
        let (newer, older) = self.tail.split_at(start);
        self.head.iter().chain(older.iter()).chain(newer.iter())
    }

    /// The two packets right before the row of `at`, nearest first, capture duplicates skipped;
    /// `None` for a packet the ladder did not keep (the rows between head and tail are dropped).
    pub fn before(&self, at: FrameRef) -> [Option<&LadderRow>; 2] {
        // From the end: the packet asked about is usually among the last.
        let start = self.tail_start.min(self.tail.len());
        let (newer, older) = self.tail.split_at(start);
        // Rows at or after this index (from the front) are the tail's.
        let head = self.head.len();
        let total = head + self.tail.len();
        let mut rows = (0..total)
            .rev()
            .zip(self.head.iter().chain(older).chain(newer).rev())
            .skip_while(|(_, r)| r.at != at);
        let Some((k, _)) = rows.next() else {
            return [None, None];
        };
        let mut out: [Option<&LadderRow>; 2] = [None, None];
        let mut n = 0;
        let mut prev_k = k;
        for (k, row) in rows {
            if prev_k == head && self.omitted > 0 {
                // Between head and tail, rows were dropped: the next one back is not the previous.
                break;
            }
            prev_k = k;
            if row.duplicate {
                continue;
            }
            out[n] = Some(row);
            n += 1;
            if n == 2 {
                break;
            }
        }
        out
    }
}

/// A TCP connection.
#[derive(Debug)]
pub struct TcpConn {
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub role_basis: RoleBasis,
    pub first: FrameRef,
    pub last: FrameRef,
    /// The client's first SYN, how many SYNs it sent, and the last one.
    pub syn: Option<PacketFacts>,
    pub syn_count: u32,
    pub last_syn: Option<PacketFacts>,
    /// The server's first SYN-ACK and how many.
    pub syn_ack: Option<PacketFacts>,
    pub syn_ack_count: u32,
    /// The first ACK from the client completing the 3-way handshake.
    pub handshake_ack: Option<PacketFacts>,
    pub side: [SideFacts; 2],
    /// Packets seen twice (the same packet captured on two interfaces, or pktmon's copies).
    pub duplicates: u64,
    pub packets: u64,
    pub ladder: Ladder,
    asm: [Assembler; 2],
    /// (start offset, end offset, packet) of the first data segments per direction.
    segments: [Vec<(u64, u64, FrameRef)>; 2],
    last_sig: [Option<(PacketSig, Timestamp)>; 2],
    /// Payload has been handed out: the roles can no longer be swapped.
    fed: bool,
    /// The first bytes of each direction's first payload (what a record header says even when the
    /// capture cut the rest), and how many of them are valid.
    first_bytes: [([u8; 16], u8); 2],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PacketSig {
    seq: u32,
    ack: u32,
    flags: TcpFlags,
    len: u32,
    ip_id: Option<u16>,
    window: u16,
}

/// Ports on which the server side is assumed when no SYN was seen.
fn well_known(port: u16) -> bool {
    matches!(
        port,
        443 | 80
            | 8443
            | 8080
            | 3128
            | 465
            | 993
            | 995
            | 636
            | 853
            | 990
            | 5061
            | 3389
            | 25
            | 587
            | 143
            | 110
            | 21
    ) || port < 1024
}

/// Payload that only a client sends first: a TLS ClientHello record, an SSLv2 ClientHello, an HTTP request.
pub fn looks_like_client_first(p: &[u8]) -> bool {
    match p {
        _ if looks_like_client_hello(p) => true,
        _ => {
            const METHODS: [&[u8]; 9] = [
                b"GET ",
                b"POST ",
                b"HEAD ",
                b"PUT ",
                b"CONNECT ",
                b"OPTIONS ",
                b"DELETE ",
                b"PATCH ",
                b"TRACE ",
            ];
            METHODS.iter().any(|m| p.starts_with(m))
        }
    }
}

/// The start of a TLS ClientHello record, or of an SSLv2-compatible ClientHello.
pub fn looks_like_client_hello(p: &[u8]) -> bool {
    matches!(p, [0x16, 0x03, _, _, _, 0x01, ..])
        || matches!(p, [b0, _, 0x01, 0x03 | 0x00, ..] if b0 & 0x80 != 0)
}

/// Payload that only a server sends first in a TLS exchange: a ServerHello or an HTTP response.
pub fn looks_like_server_first(p: &[u8]) -> bool {
    matches!(p, [0x16, 0x03, _, _, _, 0x02, ..]) || p.starts_with(b"HTTP/1.")
}

impl TcpConn {
    /// A connection whose first packet is `pkt`.
    pub fn new(pkt: &TcpPacket<'_>, at: FrameRef, out_of_order_cap: usize) -> TcpConn {
        let src = SocketAddr::new(pkt.ip.src, pkt.src_port);
        let dst = SocketAddr::new(pkt.ip.dst, pkt.dst_port);
        let f = pkt.flags;
        let (client, server, basis) = if f.syn() && !f.ack() {
            (src, dst, RoleBasis::Syn)
        } else if f.syn() && f.ack() {
            (dst, src, RoleBasis::SynAck)
        } else if looks_like_client_first(&pkt.payload) {
            (src, dst, RoleBasis::Payload)
        } else if looks_like_server_first(&pkt.payload) {
            (dst, src, RoleBasis::Payload)
        } else {
            let src_server = match (well_known(pkt.src_port), well_known(pkt.dst_port)) {
                (true, false) => true,
                (false, true) => false,
                _ => pkt.src_port < pkt.dst_port,
            };
            if src_server {
                (dst, src, RoleBasis::PortGuess)
            } else {
                (src, dst, RoleBasis::PortGuess)
            }
        };
        TcpConn {
            client,
            server,
            role_basis: basis,
            first: at,
            last: at,
            syn: None,
            syn_count: 0,
            last_syn: None,
            syn_ack: None,
            syn_ack_count: 0,
            handshake_ack: None,
            side: [SideFacts::default(), SideFacts::default()],
            duplicates: 0,
            packets: 0,
            ladder: Ladder::default(),
            asm: [
                Assembler::new(out_of_order_cap),
                Assembler::new(out_of_order_cap),
            ],
            segments: [Vec::new(), Vec::new()],
            last_sig: [None, None],
            fed: false,
            first_bytes: [([0; 16], 0), ([0; 16], 0)],
        }
    }

    /// Direction of a packet from `src`.
    pub fn direction_of(&self, src: IpAddr, src_port: u16) -> Direction {
        if self.client.ip() == src && self.client.port() == src_port {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// The side that sent a SYN for a connection we already track with a different ISN, after it closed,
    /// starts a new connection (port reuse).
    pub fn is_new_syn(&self, pkt: &TcpPacket<'_>) -> bool {
        if !pkt.flags.syn() || pkt.flags.ack() {
            return false;
        }
        match &self.syn {
            Some(s) => s.seq != pkt.seq && (self.is_closed() || self.fed),
            None => self.packets > 0 && (self.is_closed() || self.fed),
        }
    }

    /// An RST was seen, or both sides sent a FIN.
    pub fn is_closed(&self) -> bool {
        self.side.iter().any(|s| s.first_rst.is_some())
            || self.side.iter().all(|s| s.first_fin.is_some())
    }

    /// The first bytes (at most 16) of a direction's first payload segment.
    pub fn first_bytes(&self, dir: Direction) -> &[u8] {
        let (buf, n) = &self.first_bytes[dir.index()];
        buf.get(..usize::from(*n)).unwrap_or(&[])
    }

    /// Reassembly counters per direction.
    pub fn stream_stats(&self, dir: Direction) -> AssemblerStats {
        self.asm[dir.index()].stats()
    }

    /// Bytes buffered out of order in both directions.
    pub fn buffered(&self) -> usize {
        self.asm.iter().map(|a| a.buffered()).sum()
    }

    /// Bytes held for reassembly in both directions (out-of-order data and retransmission-check
    /// windows).
    pub fn retained(&self) -> usize {
        self.asm
            .iter()
            .fold(0usize, |n, a| n.saturating_add(a.retained()))
    }

    /// Gives up the reassembly buffers of both directions to save memory (holes become gaps).
    pub fn release_buffers(
        &mut self,
        at: FrameRef,
        out: &mut dyn FnMut(Direction, Chunk<'_>, FrameRef),
    ) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            let asm = &mut self.asm[dir.index()];
            asm.release_buffers(&mut |c| out(dir, c, at));
        }
    }

    /// The packet that carried stream byte `offset` of `dir`, if it is among the first segments kept.
    pub fn frame_of_offset(&self, dir: Direction, offset: u64) -> Option<FrameRef> {
        self.segments[dir.index()]
            .iter()
            .find(|(s, e, _)| *s <= offset && offset < *e)
            .map(|(_, _, f)| *f)
    }

    /// How many distinct data segments carried stream bytes `[start, end)` of `dir` (retransmissions not
    /// counted), with the packets of the first and the last of them.
    pub fn segments_of(&self, dir: Direction, start: u64, end: u64) -> SegmentsOf {
        // Retransmissions of the same bytes are not extra segments: the first copy of each range
        // counts. A range inside an earlier one is a copy (when that earlier one is itself a copy,
        // the range it copies holds this one too), so nothing needs collecting.
        let segs = &self.segments[dir.index()];
        let mut out = SegmentsOf::default();
        for (k, (s, e, f)) in segs.iter().enumerate() {
            let copy = || {
                segs.get(..k)
                    .unwrap_or_default()
                    .iter()
                    .any(|(rs, re, _)| rs <= s && e <= re)
            };
            if *s < end && start < *e && !copy() {
                out.count += 1;
                out.first.get_or_insert(*f);
                out.last = Some(*f);
            }
        }
        out
    }

    /// The first packet of the receiving side that acknowledged stream byte `end - 1` of `dir`.
    pub fn first_ack_covering(&self, dir: Direction, end: u64) -> Option<FrameRef> {
        self.side[dir.reverse().index()]
            .acks
            .iter()
            .find(|(off, _)| *off >= end)
            .map(|(_, f)| *f)
    }

    /// Swap client and server (allowed until payload has been handed out).
    fn swap_roles(&mut self, basis: RoleBasis) {
        std::mem::swap(&mut self.client, &mut self.server);
        self.side.swap(0, 1);
        self.asm.swap(0, 1);
        self.segments.swap(0, 1);
        self.last_sig.swap(0, 1);
        self.first_bytes.swap(0, 1);
        for row in self.ladder.rows_mut() {
            row.dir = row.dir.reverse();
        }
        self.role_basis = basis;
    }

    /// Called only before any payload was handed out (`!self.fed`): the roles guessed from ports can
    /// be corrected by the first payload, and a SYN decides even after a guess. Returns the packet's
    /// direction after that.
    #[inline(never)]
    fn settle_roles(&mut self, pkt: &TcpPacket<'_>, mut dir: Direction) -> Direction {
        if matches!(self.role_basis, RoleBasis::PortGuess) && !pkt.payload.is_empty() {
            let flip = match dir {
                Direction::ToServer => looks_like_server_first(&pkt.payload),
                Direction::ToClient => looks_like_client_first(&pkt.payload),
            };
            if flip {
                self.swap_roles(RoleBasis::Payload);
                dir = dir.reverse();
            } else if looks_like_client_first(&pkt.payload) || looks_like_server_first(&pkt.payload)
            {
                self.role_basis = RoleBasis::Payload;
            }
        }
        if matches!(self.role_basis, RoleBasis::PortGuess | RoleBasis::Payload)
            && pkt.flags.syn()
            && self.syn.is_none()
        {
            // A SYN decides even after a guess.
            let sender_is_client = !pkt.flags.ack();
            let sender_dir_should_be = if sender_is_client {
                Direction::ToServer
            } else {
                Direction::ToClient
            };
            if dir != sender_dir_should_be {
                self.swap_roles(if sender_is_client {
                    RoleBasis::Syn
                } else {
                    RoleBasis::SynAck
                });
                dir = dir.reverse();
            }
        }
        dir
    }

    /// Process one packet. Reassembled payload is handed to `out` in stream order.
    /// Returns the packet's direction, or `None` when it was a capture duplicate (ignored).
    pub fn on_packet(
        &mut self,
        pkt: &TcpPacket<'_>,
        at: FrameRef,
        out: &mut dyn FnMut(Direction, Chunk<'_>, FrameRef),
    ) -> Option<Direction> {
        let mut dir = self.direction_of(pkt.ip.src, pkt.src_port);
        if !self.fed {
            dir = self.settle_roles(pkt, dir);
        }
        let i = dir.index();
        let wire_len = u32::try_from(pkt.payload.len())
            .unwrap_or(u32::MAX)
            .saturating_add(pkt.payload_missing);
        let sig = PacketSig {
            seq: pkt.seq,
            ack: pkt.ack,
            flags: pkt.flags,
            len: wire_len,
            ip_id: pkt.ip.ip_id,
            window: pkt.window,
        };
        if let Some((prev, ts)) = self.last_sig[i] {
            let close_in_time = at.ts.since(ts)
                <= if sig.ip_id.is_some() {
                    50_000_000
                } else {
                    5_000_000
                };
            if prev == sig && close_in_time {
                self.duplicates += 1;
                self.ladder.push(self.row(pkt, at, dir, wire_len, true));
                return None;
            }
        }
        self.last_sig[i] = Some((sig, at.ts));
        self.packets += 1;
        self.last = at;
        let facts = PacketFacts {
            at,
            dir,
            flags: pkt.flags,
            seq: pkt.seq,
            ack: pkt.ack,
            len: wire_len,
            ttl: pkt.ip.ttl,
            ip_id: pkt.ip.ip_id,
            window: pkt.window,
        };
        self.note_side(i, &facts);
        let f = pkt.flags;
        if f.syn() {
            self.on_syn(&facts);
        } else if self.handshake_ack.is_none()
            && f.ack()
            && dir == Direction::ToServer
            && self.syn_ack.is_some()
        {
            self.handshake_ack = Some(facts);
        }
        self.ladder.push(self.row(pkt, at, dir, wire_len, false));

        // Payload (a SYN may carry data with TCP Fast Open; its first byte is ISN + 1).
        if !pkt.payload.is_empty() || pkt.payload_missing > 0 {
            let seq = if f.syn() {
                pkt.seq.wrapping_add(1)
            } else {
                pkt.seq
            };
            if !self.asm[i].anchored() {
                self.asm[i].set_isn(seq.wrapping_sub(1));
            }
            if self.segments[i].len() < SEGMENT_MAP {
                if let Some(start) = self.asm[i].offset_of(seq) {
                    let segment = (start, start + u64::from(wire_len), at);
                    push_with_room(&mut self.segments[i], 8, segment);
                }
            }
            self.fed = true;
            let (buf, n) = &mut self.first_bytes[i];
            if *n == 0 && !pkt.payload.is_empty() {
                let take = pkt.payload.len().min(buf.len());
                buf[..take].copy_from_slice(&pkt.payload[..take]);
                *n = take as u8;
            }
            let asm = &mut self.asm[i];
            asm.push(seq, &pkt.payload, pkt.payload_missing, &mut |c| {
                out(dir, c, at)
            });
        }
        // The ACK tells what the peer received: holes below it were lost by the capture.
        if f.ack() && !f.rst() {
            let peer = dir.reverse().index();
            if self.side[i].acks.len() < ACK_HISTORY {
                if let Some(off) = self.asm[peer].offset_of(pkt.ack) {
                    let acks = &mut self.side[i].acks;
                    let advanced = acks.last().is_none_or(|(last, _)| off > *last);
                    if advanced {
                        push_with_room(acks, 8, (off, at));
                    }
                }
            }
            if self.asm[peer].anchored() {
                let asm = &mut self.asm[peer];
                asm.peer_acked(pkt.ack, &mut |c| out(dir.reverse(), c, at));
            }
        }
        if f.fin() || f.rst() {
            self.on_close(dir, at, out);
        }
        Some(dir)
    }

    /// A SYN or SYN-ACK (its facts): the handshake packets, and the anchor of the sender's stream.
    #[inline(never)]
    fn on_syn(&mut self, facts: &PacketFacts) {
        let (f, dir, i) = (facts.flags, facts.dir, facts.dir.index());
        if !f.ack() && dir == Direction::ToServer {
            self.syn_count += 1;
            self.syn.get_or_insert(*facts);
            self.last_syn = Some(*facts);
            self.asm[i].set_isn(facts.seq);
        }
        if f.ack() && dir == Direction::ToClient {
            self.syn_ack_count += 1;
            self.syn_ack.get_or_insert(*facts);
            self.asm[i].set_isn(facts.seq);
        }
    }

    /// A FIN or RST from `dir`: the holes of its stream are given up; once the connection is closed,
    /// the retransmission-check windows are forgotten.
    #[inline(never)]
    fn on_close(
        &mut self,
        dir: Direction,
        at: FrameRef,
        out: &mut dyn FnMut(Direction, Chunk<'_>, FrameRef),
    ) {
        let asm = &mut self.asm[dir.index()];
        asm.flush(&mut |c| out(dir, c, at));
        if self.is_closed() {
            for a in &mut self.asm {
                a.forget_recent();
            }
        }
    }

    /// Frees what a judged connection keeps for its report (ladder, segment map, ACK history,
    /// reassembly buffers), for a caller that no longer reports it in full. The counters stay.
    pub fn release_details(&mut self) {
        self.ladder = Ladder::default();
        self.segments = [Vec::new(), Vec::new()];
        for side in &mut self.side {
            side.acks = Vec::new();
        }
        for asm in &mut self.asm {
            asm.release_memory();
        }
    }

    /// End of input (or eviction): give up on every hole.
    pub fn flush(&mut self, at: FrameRef, out: &mut dyn FnMut(Direction, Chunk<'_>, FrameRef)) {
        for dir in [Direction::ToServer, Direction::ToClient] {
            let asm = &mut self.asm[dir.index()];
            asm.flush(&mut |c| out(dir, c, at));
        }
    }

    fn note_side(&mut self, i: usize, p: &PacketFacts) {
        let s = &mut self.side[i];
        s.packets += 1;
        s.payload_bytes += u64::from(p.len);
        if s.first_packet.is_none() {
            s.ttl_min = p.ttl;
            s.ttl_max = p.ttl;
        }
        s.ttl_min = s.ttl_min.min(p.ttl);
        s.ttl_max = s.ttl_max.max(p.ttl);
        s.first_packet.get_or_insert(*p);
        if s.first_rst.is_some() {
            s.after_rst += 1;
            s.first_after_rst.get_or_insert(*p);
        }
        s.last_packet = Some(*p);
        if p.len > 0 {
            s.first_data.get_or_insert(*p);
            s.last_data = Some(*p);
        }
        if p.flags.fin() {
            s.first_fin.get_or_insert(*p);
        }
        if p.flags.rst() {
            if let Some(first) = &s.first_rst {
                if first.seq != p.seq {
                    s.rst_seq_varies = true;
                }
            }
            s.first_rst.get_or_insert(*p);
            s.rst_count += 1;
        }
        if p.flags.ack() && !p.flags.rst() {
            match s.first_ack {
                None => s.first_ack = Some(p.ack),
                Some(a) if a != p.ack => s.ack_moved = true,
                Some(_) => {}
            }
        }
        if p.window == 0 && !p.flags.rst() && !p.flags.syn() {
            s.zero_windows += 1;
        }
    }

    fn row(
        &self,
        pkt: &TcpPacket<'_>,
        at: FrameRef,
        dir: Direction,
        len: u32,
        duplicate: bool,
    ) -> LadderRow {
        let asm = &self.asm[dir.index()];
        let seq = if pkt.flags.syn() {
            pkt.seq.wrapping_add(1)
        } else {
            pkt.seq
        };
        LadderRow {
            at,
            dir,
            flags: pkt.flags,
            rel_seq: asm.offset_of(seq).unwrap_or(0),
            len,
            ttl: pkt.ip.ttl,
            labels: None,
            duplicate,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::decode::IpInfo;
    use std::borrow::Cow;

    fn frame(k: u64) -> FrameRef {
        FrameRef::new(k, 0, k, Timestamp(k))
    }

    /// A plain ACK row for frame `k`.
    fn ladder_row(k: u64, duplicate: bool) -> LadderRow {
        LadderRow {
            at: frame(k),
            dir: Direction::ToServer,
            flags: TcpFlags::from_bits(0x10),
            rel_seq: k,
            len: 0,
            ttl: 64,
            labels: None,
            duplicate,
        }
    }

    /// The ladder keeps the first LADDER_HEAD rows and the last LADDER_TAIL in order, however many
    /// times its ring of last rows wrapped, and labels only rows it still keeps.
    #[test]
    fn ladder_keeps_head_and_last_rows_in_order() {
        let row = |k: u64| ladder_row(k, false);
        for n in [0, 1, 63, 64, 65, 75, 76, 77, 100, 64 + 12 * 7 + 5] {
            let mut l = Ladder::default();
            for k in 0..n {
                l.push(row(k));
            }
            let kept: Vec<u64> = l.rows().map(|r| r.at.frame).collect();
            let tail_from = n.saturating_sub(LADDER_TAIL as u64).max(LADDER_HEAD as u64);
            let want: Vec<u64> = (0..n.min(LADDER_HEAD as u64)).chain(tail_from..n).collect();
            assert_eq!(kept, want, "{n} rows");
            assert_eq!(l.omitted, n - want.len() as u64, "{n} rows");
            // The newest and the oldest kept tail row take labels; a dropped row does not.
            if n > (LADDER_HEAD + LADDER_TAIL) as u64 {
                l.label(frame(n - 1), "newest".into());
                l.label(frame(tail_from), "oldest".into());
                l.label(frame(tail_from - 1), "dropped".into());
                l.label(frame(3), "head".into());
                let labelled: Vec<(u64, &[String])> = l
                    .rows()
                    .filter(|r| !r.labels().is_empty())
                    .map(|r| (r.at.frame, r.labels()))
                    .collect();
                assert_eq!(
                    labelled,
                    vec![
                        (3, &["head".to_string()][..]),
                        (tail_from, &["oldest".to_string()][..]),
                        (n - 1, &["newest".to_string()][..]),
                    ],
                    "{n} rows"
                );
            }
        }
    }

    /// `Ladder::before` gives the two kept rows right before a row, skipping capture duplicates,
    /// and nothing across the rows dropped between head and tail: checked against the whole list of
    /// rows pushed, for ladders before, at and after the ring's wrapping.
    #[test]
    fn ladder_before_is_the_previous_kept_rows() {
        // every 7th packet is a capture duplicate of the one before
        let row = |k: u64| ladder_row(k, k % 7 == 6);
        for n in [0, 1, 2, 3, 63, 64, 65, 66, 76, 77, 90, 64 + 12 * 5 + 3] {
            let mut l = Ladder::default();
            for k in 0..n {
                l.push(row(k));
            }
            let kept: Vec<u64> = l.rows().map(|r| r.at.frame).collect();
            for k in 0..n + 2 {
                let got: Vec<Option<u64>> = l
                    .before(frame(k))
                    .iter()
                    .map(|r| r.map(|r| r.at.frame))
                    .collect();
                let want: Vec<Option<u64>> = if !kept.contains(&k) {
                    vec![None, None]
                } else {
                    // the pushed rows before k, nearest first, duplicates skipped, stopping at the
                    // first one the ladder did not keep
                    let mut w: Vec<Option<u64>> = (0..k)
                        .rev()
                        .take_while(|j| kept.contains(j))
                        .filter(|j| j % 7 != 6)
                        .take(2)
                        .map(Some)
                        .collect();
                    w.resize(2, None);
                    w
                };
                assert_eq!(got, want, "{n} rows, before frame {k}");
            }
        }
    }

    fn syn() -> TcpConn {
        let ip = |o: u8| IpAddr::from([10, 0, 0, o]);
        let pkt = TcpPacket {
            ip: IpInfo {
                src: ip(1),
                dst: ip(2),
                ttl: 64,
                ip_id: None,
                dont_fragment: true,
            },
            src_port: 40000,
            dst_port: 443,
            seq: 1,
            ack: 0,
            flags: TcpFlags::from_bits(0x02),
            window: 512,
            options_raw: Cow::Borrowed(&[]),
            payload: Cow::Borrowed(&[]),
            payload_missing: 0,
        };
        TcpConn::new(&pkt, frame(0), 16)
    }

    /// What `segments_of` answered when it collected the ranges kept so far.
    fn collecting(segs: &[(u64, u64, FrameRef)], start: u64, end: u64) -> SegmentsOf {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let mut frames: Vec<FrameRef> = Vec::new();
        for (s, e, f) in segs {
            if *s < end && start < *e && !ranges.iter().any(|(rs, re)| rs <= s && e <= re) {
                ranges.push((*s, *e));
                frames.push(*f);
            }
        }
        SegmentsOf {
            count: frames.len() as u32,
            first: frames.first().copied(),
            last: frames.last().copied(),
        }
    }

    /// Retransmissions (whole, partial, repackaged) and windows over random segment maps.
    #[test]
    fn segments_of_skips_retransmitted_ranges() {
        let mut c = syn();
        let mut z = 7u64;
        let mut next = || {
            z = z
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            z >> 33
        };
        for round in 0..3000 {
            let n = next() % 12;
            let segs: Vec<(u64, u64, FrameRef)> = (0..n)
                .map(|k| {
                    let s = next() % 40;
                    (s, s + next() % 20, frame(k))
                })
                .collect();
            let (start, end) = (next() % 50, next() % 60);
            c.segments[0] = segs.clone();
            assert_eq!(
                c.segments_of(Direction::ToServer, start, end),
                collecting(&segs, start, end),
                "round {round}: {segs:?} [{start}, {end})"
            );
        }
    }
}
