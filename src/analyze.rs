//! The pipeline: frames in, one judged [`Connection`] out per TCP connection.
//!
//! [`Analyzer`] owns the flow table. Each packet goes to its connection's [`TcpConn`]; the reassembled
//! bytes go to its [`TlsSession`]; the TLS events are tied back to the packets that carried them. A
//! connection is judged and handed to the caller when it is over (closed, then quiet for a grace period;
//! idle too long; evicted by the connection limit; or at the end of the input), so memory holds only
//! live connections.
//!
//! # Limits
//! Memory is bounded whatever the input: every limit is in [`Options`] (with a CLI flag), and every
//! time one is hit it is counted in [`Totals::limits`] (printed in the summaries) and, where it
//! concerns one connection, said in that connection's notes. The bytes a connection holds for
//! reassembly (out-of-order segments, the window kept to check retransmissions, partial TLS/HTTP
//! messages) are accounted after each packet; when all connections together hold more than
//! [`Options::max_buffered_total`], the largest holders give up their out-of-order data (holes become
//! gaps), and if that is not enough they are judged early.

use std::collections::HashMap;
use std::net::IpAddr;

use crate::capture::{Frame, Timestamp};
use crate::decode::{Decoded, Decoder, FragmentLimits, IcmpError, SkipReason, TcpPacket};
use crate::tcp::{Chunk, Direction, FrameRef, TcpConn};
use crate::tls::{HandshakeProgress, TlsEvent, TlsEventKind, TlsSession};
use crate::verdict::{self, ConnInput, TlsEventAt, Verdict};

/// Limits and tunables. Every limit, when hit, is counted in [`Totals`].
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub verdict: verdict::Config,
    /// Connections tracked at once; beyond it the least recently active one is judged early.
    pub max_connections: usize,
    /// Out-of-order bytes buffered per direction of a connection (`--max-buffer-per-direction`); at the
    /// cap the direction's holes are skipped as capture loss.
    pub max_out_of_order: usize,
    /// Bytes held for reassembly by all connections together (`--max-buffer-total`): out-of-order
    /// segments, retransmission-check windows, partial TLS handshake messages and HTTP headers.
    pub max_buffered_total: usize,
    /// TLS records and messages kept per connection as evidence (`--max-events`).
    pub max_events: usize,
    /// Largest TLS handshake message reassembled, header included (`--max-handshake-message`).
    /// A longer length claim allocates nothing and is reported as malformed.
    pub max_handshake_message: usize,
    /// IP fragment reassembly pool (`--max-ip-fragments` sets the datagrams pending at once).
    pub fragments: FragmentLimits,
    /// A closed connection is judged after this much capture time without packets.
    pub close_grace_ns: u64,
    /// A connection with no packets for this long is judged as it stands.
    pub idle_timeout_ns: u64,
    /// Label ladder rows with the TLS messages they carried. Only the ladder diagrams (text and
    /// HTML) show the labels; [`crate::run`] turns this off when the output is JSON lines only.
    pub ladder_labels: bool,
}

impl Options {
    /// What [`absorb`] keeps of a connection's TLS events.
    fn keep(&self) -> Keep {
        Keep {
            max_events: self.max_events,
            labels: self.ladder_labels,
        }
    }
}

/// What [`absorb`] keeps of a connection's TLS events: at most `max_events` of them, and, when
/// `labels`, their names on the ladder rows of their packets.
#[derive(Clone, Copy, Debug)]
struct Keep {
    max_events: usize,
    labels: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            verdict: verdict::Config::default(),
            max_connections: 200_000,
            max_out_of_order: 256 * 1024,
            max_buffered_total: 256 * 1024 * 1024,
            max_events: 64,
            max_handshake_message: crate::tls::MAX_HANDSHAKE_MESSAGE,
            fragments: FragmentLimits::default(),
            close_grace_ns: 2_000_000_000,
            idle_timeout_ns: 600_000_000_000,
            ladder_labels: true,
        }
    }
}

/// A judged connection's verdict, still to be made: the rules ([`verdict::judge`]) read the
/// connection as it was when judged, with the capture's end as it was then, and the analyzer adds
/// its notes (why the connection was judged early, the limits it hit). [`Judgment::verdict`] makes
/// it on whichever thread wants it: the analysing one, or the one printing while another analyses
/// ([`crate::run`]). The same verdict either way: nothing changes the connection in between.
#[derive(Debug)]
pub struct Judgment {
    capture_end: Timestamp,
    cfg: verdict::Config,
    notes: Vec<String>,
}

/// Turns a `done` that takes verdicts into one that takes judgments, for callers that want the
/// verdict where the connection is judged.
pub fn with_verdict(
    mut done: impl FnMut(Box<Connection>, Verdict),
) -> impl FnMut(Box<Connection>, Judgment) {
    move |c, j| {
        let v = j.verdict(&c);
        done(c, v)
    }
}

impl Judgment {
    /// The verdict of `conn`, the connection this judgment was made with.
    pub fn verdict(&self, conn: &Connection) -> Verdict {
        let input = ConnInput {
            tcp: &conn.tcp,
            tls: &conn.tls,
            events: &conn.events,
            events_dropped: conn.events_dropped,
            icmp: conn.icmp.as_ref(),
            completed: conn.completed,
            capture_end: self.capture_end,
        };
        let mut v = verdict::judge(&input, &self.cfg);
        v.notes.extend(self.notes.iter().cloned());
        v
    }
}

/// One connection with everything seen of it.
#[derive(Debug)]
pub struct Connection {
    /// 1-based, in order of the connection's first packet.
    pub id: u64,
    pub tcp: TcpConn,
    pub tls: TlsSession,
    pub events: Vec<TlsEventAt>,
    pub events_dropped: u64,
    pub icmp: Option<(FrameRef, IcmpError)>,
    pub completed: Option<(FrameRef, u64)>,
    /// Why it was judged when it was (closed, idle, evicted, end of input).
    pub judged_because: JudgedBecause,
    /// Bytes it held for reassembly when last accounted (see [`Options::max_buffered_total`]).
    pub buffered: usize,
    /// The tunnel its first packet came in (Geneve, VXLAN...), if any.
    pub tunnel: Option<crate::decode::TunnelInfo>,
    /// Times its out-of-order data was given up because of [`Options::max_buffered_total`].
    pub buffers_released: u32,
}

impl Connection {
    /// Frees everything a judged connection keeps for its report (TLS state and events, ladder,
    /// segment maps...) but its id and counters: for a printer that reads only the JSON line
    /// rendered ahead ([`crate::report::ReportSink::json_only`]), so the memory is freed where and
    /// while it is still in the cache.
    pub fn release_details(&mut self) {
        self.tcp.release_details();
        self.tls = TlsSession::new();
        self.events = Vec::new();
    }
}

/// Why a connection was judged when it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JudgedBecause {
    Closed,
    Idle,
    Evicted,
    /// Judged early because all connections together buffered more than
    /// [`Options::max_buffered_total`] and this one held the most.
    MemoryLimit,
    EndOfInput,
    /// Live capture ([`Analyzer::tick`]): still waiting for the server after the quiet time.
    Quiet,
}

/// How often each limit of [`Options`] was hit. Never silent: the summaries print every non-zero count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitHits {
    /// Connections judged early because `max_connections` were live at once.
    pub connections: u64,
    /// Times a direction's out-of-order buffer reached `max_out_of_order` (its holes were skipped).
    pub buffer_per_direction: u64,
    /// Times all connections together buffered more than `max_buffered_total`.
    pub buffer_total: u64,
    /// Connections whose out-of-order data was given up for `max_buffered_total`.
    pub buffer_total_released: u64,
    /// Connections judged early for `max_buffered_total`.
    pub buffer_total_judged: u64,
    /// Handshake messages whose length claim exceeded `max_handshake_message`.
    pub handshake_message: u64,
    /// TLS events not kept: beyond `max_events` per connection, or beyond the TLS layer's
    /// [`crate::tls::MAX_EVENTS_PER_DIRECTION`].
    pub events: u64,
    /// IP fragments dropped because the reassembly pool was full (`fragments`).
    pub fragments: u64,
}

impl LimitHits {
    /// True when no limit was hit.
    pub fn is_empty(&self) -> bool {
        *self == LimitHits::default()
    }
}

/// Counters for the whole run.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub frames: u64,
    pub bytes: u64,
    pub tcp_packets: u64,
    pub icmp_errors: u64,
    /// Frames whose TCP segment or ICMP error came inside a tunnel (Geneve, VXLAN...).
    pub tunneled: u64,
    /// ICMP errors that quote no tracked connection.
    pub icmp_unmatched: u64,
    pub skipped: Vec<(SkipReason, u64)>,
    pub connections: u64,
    pub evicted: u64,
    pub idle_judged: u64,
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    pub max_live_connections: usize,
    /// Most bytes buffered for reassembly by all connections at once.
    pub max_buffered: usize,
    /// Limits hit.
    pub limits: LimitHits,
    /// The limits in force (for the summaries).
    pub options: Options,
}

/// A TCP connection's two endpoints, the lower (address, port) first: both directions map to it.
pub type FlowKey = (IpAddr, u16, IpAddr, u16);

/// The [`FlowKey`] of a packet from `a`:`ap` to `b`:`bp` (or the other way).
pub fn flow_key(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> FlowKey {
    if (a, ap) <= (b, bp) {
        (a, ap, b, bp)
    } else {
        (b, bp, a, ap)
    }
}

/// The flow table's key: a [`FlowKey`] packed into integers (an address's 128 bits, IPv4 in the
/// low 32; the ports and each address's family in one word), cheaper to hash and compare than the
/// tuple of `IpAddr`s. Both directions of a connection give the same key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct TableKey {
    a: u128,
    b: u128,
    ports: u64,
}

/// The [`TableKey`] of a packet from `a`:`ap` to `b`:`bp` (or the other way).
fn table_key(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> TableKey {
    let bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => (u128::from(v4.to_bits()), 4u64),
        IpAddr::V6(v6) => (v6.to_bits(), 6u64),
    };
    let ((a, af), (b, bf)) = (bits(a), bits(b));
    let (a, ap, af, b, bp, bf) = if (a, ap, af) <= (b, bp, bf) {
        (a, ap, af, b, bp, bf)
    } else {
        (b, bp, bf, a, ap, af)
    };
    TableKey {
        a,
        b,
        ports: u64::from(ap) << 48 | u64::from(bp) << 32 | af << 8 | bf,
    }
}

/// The [`FlowKey`] of a tracked connection.
fn conn_flow_key(c: &Connection) -> FlowKey {
    let (cl, sv) = (c.tcp.client, c.tcp.server);
    flow_key(cl.ip(), cl.port(), sv.ip(), sv.port())
}

/// A short label for a ladder row.
pub fn event_label(kind: &TlsEventKind) -> String {
    use std::fmt::Write;
    // Runs for every TLS event: one string, written in place (`format!` cost several times more).
    let mut s = String::with_capacity(32);
    let _ = match kind {
        TlsEventKind::ClientHello(ch) => {
            s.push_str("ClientHello");
            if ch.sslv2_format {
                s.push_str(" (SSLv2 format)");
            }
            if let Some(sni) = &ch.sni {
                s.push_str(" SNI=");
                s.push_str(sni);
            }
            Ok(())
        }
        TlsEventKind::ServerHello(sh) if sh.hello_retry_request => {
            s.push_str("HelloRetryRequest");
            Ok(())
        }
        TlsEventKind::ServerHello(sh) => {
            s.push_str("ServerHello ");
            s.push_str(&crate::tls::names::version_str(sh.version()));
            Ok(())
        }
        TlsEventKind::Certificate(c) => write!(s, "Certificate ({})", c.len()),
        TlsEventKind::Handshake(t) => match crate::tls::names::handshake_type_name(*t) {
            Some(n) => {
                s.push_str(n);
                Ok(())
            }
            None => write!(s, "Handshake type {t}"),
        },
        TlsEventKind::ChangeCipherSpec => {
            s.push_str("ChangeCipherSpec");
            Ok(())
        }
        TlsEventKind::Alert(a) => {
            s.push_str(if a.level == 2 {
                "Alert fatal "
            } else {
                "Alert warning "
            });
            match crate::tls::names::alert_name(a.description) {
                Some(n) => {
                    s.push_str(n);
                    Ok(())
                }
                None => write!(s, "{}", a.description),
            }
        }
        TlsEventKind::EncryptedRecord { content_type, len } => match content_type {
            22 => write!(s, "Encrypted handshake ({len})"),
            21 => write!(s, "Encrypted alert ({len})"),
            23 => write!(s, "Application data ({len})"),
            t => write!(s, "Encrypted record type {t} ({len})"),
        },
        TlsEventKind::FirstApplicationData { len } => write!(s, "Application data ({len})"),
        TlsEventKind::HttpRequest(r) => write!(s, "HTTP {} {}", r.method, r.target),
        TlsEventKind::HttpResponse(r) => write!(s, "HTTP {}", r.status),
        TlsEventKind::NotTls(n) => write!(s, "Not TLS: {}", n.looks_like),
        TlsEventKind::Malformed(m) => write!(s, "Malformed TLS: {m}"),
        TlsEventKind::LostSync => {
            s.push_str("TLS parsing lost (gap)");
            Ok(())
        }
    };
    s
}

/// The analyzer: feed it frames, receive judged connections.
pub struct Analyzer {
    opts: Options,
    decoder: Decoder,
    /// Keys are attacker-controlled: foldhash with a per-process random seed, fast and DoS-resistant.
    /// Boxed: the table's spare capacity costs a pointer per slot, not a whole connection.
    table: HashMap<TableKey, Box<Connection>, foldhash::fast::RandomState>,
    next_id: u64,
    clock: SweepClock,
    skipped: HashMap<SkipReason, u64>,
    totals: Totals,
    /// Bytes buffered by all live connections (sum of [`Connection::buffered`]).
    buffered: usize,
    scratch: Scratch,
    /// Flow sharding ([`crate::shard`]): when set, only the connections of this shard are tracked.
    shard: Option<crate::shard::ShardFilter>,
    /// TCP packets accounted, and `buffered` right after the last one ([`Analyzer::shard_probe`]).
    packets_accounted: u64,
    buffered_at_packet: usize,
    /// Sharded runs: sweeps run only when the caller says ([`Analyzer::run_sweep`]), at the frames
    /// where one thread's clock ([`SweepClock`]) has them.
    external_sweeps: bool,
    /// Sharded runs: the place of the frame being processed among all shards' frames.
    seq: u64,
}

/// The capture clock (the latest frame timestamp seen) and when the periodic sweep is due: once a
/// second of capture time, and at least 1024 frames apart. A function of the frames' timestamps
/// alone, so [`crate::shard`]'s worker 0, which reads every frame, runs one to tell the
/// workers where one thread sweeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct SweepClock {
    now: Timestamp,
    last_sweep: Timestamp,
    since_sweep: u32,
}

impl SweepClock {
    /// A frame captured at `ts`.
    #[inline]
    pub fn advance(&mut self, ts: Timestamp) {
        if ts > self.now {
            self.now = ts;
        }
    }

    /// The latest timestamp seen.
    #[inline]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// After every frame: true when a sweep is due (the caller then sweeps and calls
    /// [`SweepClock::swept`]).
    #[inline]
    pub fn frame_done(&mut self) -> bool {
        // Saturating: 2^32 frames within one second of capture time (all stamped alike) must not
        // overflow (overflow checks are on in release builds).
        self.since_sweep = self.since_sweep.saturating_add(1);
        self.since_sweep >= 1024 && self.now.since(self.last_sweep) >= 1_000_000_000
    }

    /// A sweep ran now.
    #[inline]
    pub fn swept(&mut self) {
        self.since_sweep = 0;
        self.last_sweep = self.now;
    }
}

/// What a sharded worker ([`crate::shard`]) did not see: the plain TCP frames of other shards'
/// connections, counted by the worker that reads ([`Analyzer::count_elsewhere`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Elsewhere {
    /// Frames, and their captured bytes.
    pub frames: u64,
    pub bytes: u64,
    /// The first and last timestamps of those frames, or of all frames (a minimum and a maximum:
    /// either gives the same totals).
    pub first_ts: Option<Timestamp>,
    pub last_ts: Option<Timestamp>,
    /// The clock at the end of the input.
    pub now: Timestamp,
}

/// Counters a flow-sharded run ([`crate::shard`]) reads after each frame to put the shards' outputs
/// back in one thread's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardProbe {
    /// Connections created so far (the newest one's id).
    pub created: u64,
    /// Bytes held by the live connections ([`Options::max_buffered_total`]'s account).
    pub buffered: usize,
    /// TCP packets accounted so far (where [`Totals::max_buffered`] is taken).
    pub packets: u64,
    /// `buffered` right after the last TCP packet was accounted.
    pub buffered_at_packet: usize,
}

/// Bytes a connection holds for reassembly.
fn held(c: &Connection) -> usize {
    c.tcp.retained().saturating_add(c.tls.buffered_bytes())
}

/// Room reused from packet to packet for the TLS events a packet brings.
#[derive(Default)]
struct Scratch {
    /// As the TLS observer hands them out for one chunk.
    events: Vec<TlsEvent>,
    /// With the packet each came with.
    timed: Vec<(TlsEvent, FrameRef)>,
}

/// Runs `f` on the connection's TCP state, feeding the stream chunks it hands out to the TLS observer
/// and keeping the events (as `keep` says). `live`: a packet is being processed (label the ladder,
/// note when the handshake completed); otherwise the connection is being flushed.
fn absorb(
    conn: &mut Connection,
    keep: Keep,
    live: bool,
    scratch: &mut Scratch,
    f: impl FnOnce(&mut TcpConn, &mut dyn FnMut(Direction, Chunk<'_>, FrameRef)),
) {
    let Scratch {
        events: buf,
        timed: scratch,
    } = scratch;
    scratch.clear();
    buf.clear();
    let tls = &mut conn.tls;
    f(&mut conn.tcp, &mut |dir, chunk, at| {
        match chunk {
            Chunk::Data(d) => tls.feed(dir, d, buf),
            Chunk::Gap(n) => tls.gap(dir, n, buf),
        }
        if !buf.is_empty() {
            scratch.extend(buf.drain(..).map(|e| (e, at)));
        }
    });
    if scratch.is_empty() {
        return;
    }
    for (event, at) in scratch.drain(..) {
        let first = conn.tcp.frame_of_offset(event.dir, event.start);
        if live && keep.labels {
            conn.tcp.ladder.label(at, event_label(&event.kind));
        }
        if conn.events.len() < keep.max_events {
            let room = 8.min(keep.max_events);
            crate::tcp::conn::push_with_room(
                &mut conn.events,
                room,
                TlsEventAt { event, first, at },
            );
        } else {
            conn.events_dropped = conn.events_dropped.saturating_add(1);
        }
        if live && conn.completed.is_none() && conn.tls.progress() == HandshakeProgress::Complete {
            conn.completed = Some((at, conn.tls.stats(Direction::ToClient).app_data_records));
        }
    }
}

/// One packet of `conn`: TCP, then the TLS observer; returns the new total of bytes buffered by all
/// connections (`buffered` was the total before).
fn packet(
    conn: &mut Connection,
    pkt: &TcpPacket<'_>,
    at: FrameRef,
    keep: Keep,
    scratch: &mut Scratch,
    buffered: usize,
) -> usize {
    absorb(conn, keep, true, scratch, |tcp, out| {
        tcp.on_packet(pkt, at, out);
    });
    if conn.completed.is_none() && conn.tls.progress() == HandshakeProgress::Complete {
        conn.completed = Some((at, conn.tls.stats(Direction::ToClient).app_data_records));
    }
    let now_held = held(conn);
    let total = buffered
        .saturating_sub(conn.buffered)
        .saturating_add(now_held);
    conn.buffered = now_held;
    total
}

impl Analyzer {
    /// A new analyzer.
    pub fn new(opts: Options) -> Self {
        Analyzer {
            opts,
            decoder: Decoder::with_fragment_limits(opts.fragments),
            table: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            next_id: 1,
            clock: SweepClock::default(),
            skipped: HashMap::new(),
            totals: Totals {
                options: opts,
                ..Totals::default()
            },
            buffered: 0,
            scratch: Scratch::default(),
            shard: None,
            packets_accounted: 0,
            buffered_at_packet: 0,
            external_sweeps: false,
            seq: 0,
        }
    }

    /// Track only the connections of shard `index` of `count` (by a hash of the flow key; ICMP errors
    /// by the flow they quote). The caller then drives the clock and the sweeps as one thread's
    /// ([`Analyzer::advance_clock`] before each frame, [`Analyzer::run_sweep`] where one thread's
    /// [`SweepClock`] has a sweep, [`Analyzer::count_elsewhere`] before [`Analyzer::finish`]), so
    /// every shard sweeps at the same frames and judges at the same times as one thread.
    pub fn set_shard(&mut self, index: usize, count: usize) {
        self.shard = Some(crate::shard::ShardFilter::new(index, count));
        self.external_sweeps = true;
    }

    /// Sharded runs: the clock (the latest timestamp of all frames so far, those of other shards
    /// too) moves to `now`, at frame `seq` of all shards' (1-based, in the order read).
    #[inline]
    pub fn advance_clock(&mut self, now: Timestamp, seq: u64) {
        self.clock.advance(now);
        self.seq = seq;
    }

    /// Sharded runs: the periodic sweep, where one thread runs it (judged connections go to `done`
    /// in order of their first packet).
    pub fn run_sweep(&mut self, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        self.sweep(false, done);
    }

    /// Sharded runs, at the end of the input: counts the frames of other shards' connections as
    /// decoding them would have (frames, bytes, timestamps, TCP packets) and moves the clock to
    /// its end.
    pub fn count_elsewhere(&mut self, e: &Elsewhere) {
        let t = &mut self.totals;
        t.frames += e.frames;
        t.bytes += e.bytes;
        t.tcp_packets += e.frames;
        if let Some(f) = e.first_ts {
            t.first_ts = Some(t.first_ts.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = e.last_ts {
            t.last_ts = Some(t.last_ts.map_or(l, |x| x.max(l)));
        }
        self.decoder.count_peeked_tcp(e.frames);
        self.clock.advance(e.now);
    }

    /// The counters a sharded run reads after each frame.
    pub fn shard_probe(&self) -> ShardProbe {
        ShardProbe {
            created: self.next_id - 1,
            buffered: self.buffered,
            packets: self.packets_accounted,
            buffered_at_packet: self.buffered_at_packet,
        }
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Process one frame of file `file` (index in input order). Connections that are over are passed to `done`.
    /// Sharded ([`Analyzer::set_shard`]): a frame of another shard's connection is decoded and
    /// dropped; [`crate::shard`]'s worker 0 routes frames, so a worker never sees such
    /// frames (worker 0 counts them, [`Analyzer::count_elsewhere`]).
    pub fn frame(
        &mut self,
        file: u16,
        frame: &Frame<'_>,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        self.frame_in::<false>(file, frame, done);
    }

    /// Sharded: a plain TCP segment worker 0 found to be of this shard's connection
    /// ([`Decoder::peek_tcp`] and [`crate::shard::flow_hash`]), processed as [`Analyzer::frame`]
    /// does without checking that again.
    pub fn frame_of_shard(
        &mut self,
        file: u16,
        frame: &Frame<'_>,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        self.frame_in::<true>(file, frame, done);
    }

    /// [`Analyzer::frame`]; `OWNED`: a TCP segment's connection is known to be this shard's (a
    /// constant, so one thread's code is as without sharding).
    #[inline(always)]
    fn frame_in<const OWNED: bool>(
        &mut self,
        file: u16,
        frame: &Frame<'_>,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        self.account(frame.ts, frame.data.len());
        // (Sharded, the frame's place among all shards' frames: see `advance_clock`.)
        let seq = if self.external_sweeps {
            self.seq
        } else {
            self.totals.frames
        };
        let at = FrameRef::new(seq, file, frame.number, frame.ts);
        self.decode_and_track::<OWNED>(frame, at, done);
        self.sweep_if_due(done);
    }

    /// Every frame's bookkeeping: counts, first and last timestamps, the clock.
    #[inline]
    fn account(&mut self, ts: Timestamp, caplen: usize) {
        let t = &mut self.totals;
        t.frames += 1;
        t.bytes += caplen as u64;
        t.first_ts = Some(t.first_ts.map_or(ts, |f| f.min(ts)));
        t.last_ts = Some(t.last_ts.map_or(ts, |l| l.max(ts)));
        self.clock.advance(ts);
    }

    /// After every frame: a sweep once a second of capture time (and at least 1024 frames), see
    /// [`SweepClock`]; sharded, where the caller says ([`Analyzer::run_sweep`]).
    #[inline]
    fn sweep_if_due(&mut self, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        if !self.external_sweeps && self.clock.frame_done() {
            self.sweep(false, done);
        }
    }

    fn decode_and_track<const OWNED: bool>(
        &mut self,
        frame: &Frame<'_>,
        at: FrameRef,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        match self.decoder.decode(frame) {
            Decoded::Tcp(pkt) => self.tcp::<OWNED>(&pkt, at, done),
            Decoded::IcmpError(e) => self.icmp(e, at),
            Decoded::Skipped(r) => *self.skipped.entry(r).or_insert(0) += 1,
        }
    }

    /// End of input: judge every remaining connection.
    pub fn finish(&mut self, done: &mut dyn FnMut(Box<Connection>, Judgment)) -> Totals {
        self.sweep(true, done);
        let mut skipped: Vec<(SkipReason, u64)> =
            self.skipped.iter().map(|(k, v)| (*k, *v)).collect();
        skipped.sort();
        self.totals.skipped = skipped;
        self.totals.limits.fragments = self.decoder.stats().fragments_dropped_limit;
        // (Sharded: every worker decodes every tunneled frame, so each has the whole count.)
        self.totals.tunneled = self.decoder.stats().tunneled;
        self.totals.clone()
    }

    fn tcp<const OWNED: bool>(
        &mut self,
        pkt: &TcpPacket<'_>,
        at: FrameRef,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        self.totals.tcp_packets += 1;
        if !OWNED
            && self
                .shard
                .as_ref()
                .is_some_and(|s| !s.owns(pkt.ip.src, pkt.src_port, pkt.ip.dst, pkt.dst_port))
        {
            return;
        }
        let k = table_key(pkt.ip.src, pkt.src_port, pkt.ip.dst, pkt.dst_port);
        // The common case, one table lookup: a packet of a connection already tracked.
        if let Some(conn) = self.table.get_mut(&k) {
            if !conn.tcp.is_new_syn(pkt) {
                self.buffered = packet(
                    conn,
                    pkt,
                    at,
                    self.opts.keep(),
                    &mut self.scratch,
                    self.buffered,
                );
                self.after_packet(at, done);
                return;
            }
        }
        // The same ports again with a new SYN: the old connection is over.
        if let Some(old) = self.table.remove(&k) {
            self.judge(old, JudgedBecause::Closed, done);
        }
        if self.table.len() >= self.opts.max_connections {
            self.evict_oldest(done);
        }
        let mut tls = TlsSession::new();
        tls.set_max_handshake_message(self.opts.max_handshake_message);
        let mut conn = Box::new(Connection {
            id: self.next_id,
            tcp: TcpConn::new(pkt, at, self.opts.max_out_of_order),
            tls,
            events: Vec::new(),
            events_dropped: 0,
            icmp: None,
            completed: None,
            judged_because: JudgedBecause::EndOfInput,
            buffered: 0,
            buffers_released: 0,
            tunnel: self.decoder.last_tunnel(),
        });
        self.next_id += 1;
        self.totals.connections += 1;
        self.buffered = packet(
            &mut conn,
            pkt,
            at,
            self.opts.keep(),
            &mut self.scratch,
            self.buffered,
        );
        self.table.insert(k, conn);
        self.totals.max_live_connections = self.totals.max_live_connections.max(self.table.len());
        self.after_packet(at, done);
    }

    /// After a packet was accounted in [`Analyzer::buffered`]: the peak, what a sharded run reads,
    /// and the total buffer limit.
    fn after_packet(&mut self, at: FrameRef, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        self.totals.max_buffered = self.totals.max_buffered.max(self.buffered);
        self.packets_accounted += 1;
        self.buffered_at_packet = self.buffered;
        if self.buffered > self.opts.max_buffered_total {
            self.enforce_buffer_total(at, done);
        }
    }

    /// All connections together hold more than `max_buffered_total`: the largest holders give up their
    /// out-of-order data (their holes become gaps); if that is not enough, the largest are judged early.
    /// Stops at three quarters of the limit, so the work is amortised over many packets.
    fn enforce_buffer_total(
        &mut self,
        at: FrameRef,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        self.totals.limits.buffer_total = self.totals.limits.buffer_total.saturating_add(1);
        let target = self.opts.max_buffered_total / 4 * 3;
        let mut by_size: Vec<(usize, FlowKey, TableKey)> = self
            .table
            .iter()
            .filter(|(_, c)| c.tcp.retained() > 0)
            .map(|(k, c)| (c.tcp.retained(), conn_flow_key(c), *k))
            .collect();
        by_size.sort_unstable_by_key(|x| std::cmp::Reverse((x.0, x.1)));
        for (_, _, k) in by_size {
            if self.buffered <= target {
                return;
            }
            let Some(conn) = self.table.get_mut(&k) else {
                continue;
            };
            absorb(
                conn,
                self.opts.keep(),
                false,
                &mut self.scratch,
                |tcp, out| tcp.release_buffers(at, out),
            );
            let now_held = held(conn);
            self.buffered = self
                .buffered
                .saturating_sub(conn.buffered)
                .saturating_add(now_held);
            conn.buffered = now_held;
            conn.buffers_released = conn.buffers_released.saturating_add(1);
            self.totals.limits.buffer_total_released =
                self.totals.limits.buffer_total_released.saturating_add(1);
        }
        if self.buffered <= target {
            return;
        }
        let mut by_size: Vec<(usize, u64, TableKey)> = self
            .table
            .iter()
            .filter(|(_, c)| c.buffered > 0)
            .map(|(k, c)| (c.buffered, c.id, *k))
            .collect();
        by_size.sort_unstable_by_key(|x| std::cmp::Reverse((x.0, x.1)));
        for (_, _, k) in by_size {
            if self.buffered <= target {
                break;
            }
            if let Some(c) = self.table.remove(&k) {
                self.totals.limits.buffer_total_judged =
                    self.totals.limits.buffer_total_judged.saturating_add(1);
                self.judge(c, JudgedBecause::MemoryLimit, done);
            }
        }
    }

    fn icmp(&mut self, e: IcmpError, at: FrameRef) {
        self.totals.icmp_errors += 1;
        let (a, ap, b, bp) = (
            e.quoted_src,
            e.quoted_src_port,
            e.quoted_dst,
            e.quoted_dst_port,
        );
        if self.shard.as_ref().is_some_and(|s| !s.owns(a, ap, b, bp)) {
            return;
        }
        let k = table_key(a, ap, b, bp);
        match self.table.get_mut(&k) {
            Some(conn) => {
                if conn.icmp.is_none() {
                    conn.icmp = Some((at, e));
                }
                conn.tcp.last = at;
            }
            None => self.totals.icmp_unmatched += 1,
        }
    }

    fn judge(
        &mut self,
        mut conn: Box<Connection>,
        why: JudgedBecause,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        let end = conn.tcp.last;
        self.buffered = self.buffered.saturating_sub(conn.buffered);
        absorb(
            &mut conn,
            self.opts.keep(),
            false,
            &mut self.scratch,
            |tcp, out| tcp.flush(end, out),
        );
        conn.judged_because = why;
        // What the capture shows up to now, whatever judged the connection.
        let capture_end = self.clock.now();
        let mut notes = Vec::new();
        match why {
            JudgedBecause::Evicted => notes.push(format!(
                "judged early: more than {} connections were live at once (--max-connections)",
                self.opts.max_connections
            )),
            JudgedBecause::Idle => notes.push(format!(
                "judged after {} s without packets",
                self.opts.idle_timeout_ns / 1_000_000_000
            )),
            JudgedBecause::MemoryLimit => notes.push(format!(
                "judged early: all connections together buffered more than {} bytes \
                 (--max-buffer-total) and this one held the most",
                self.opts.max_buffered_total
            )),
            _ => {}
        }
        self.count_limits(&conn, &mut notes);
        let judgment = Judgment {
            capture_end,
            cfg: self.opts.verdict,
            notes,
        };
        done(conn, judgment);
    }

    /// Adds a judged connection's limit hits to the totals, and notes those the verdict does not.
    fn count_limits(&mut self, conn: &Connection, notes: &mut Vec<String>) {
        let l = &mut self.totals.limits;
        let mut oversized = 0u64;
        let mut suppressed = 0u64;
        for dir in [Direction::ToServer, Direction::ToClient] {
            l.buffer_per_direction = l
                .buffer_per_direction
                .saturating_add(conn.tcp.stream_stats(dir).cap_hits);
            let s = conn.tls.stats(dir);
            oversized = oversized.saturating_add(s.oversized_messages);
            suppressed = suppressed.saturating_add(s.events_suppressed);
        }
        l.handshake_message = l.handshake_message.saturating_add(oversized);
        l.events = l
            .events
            .saturating_add(conn.events_dropped)
            .saturating_add(suppressed);
        if conn.buffers_released > 0 {
            notes.push(format!(
                "its out-of-order data was given up {} time(s) because all connections together \
                 buffered more than {} bytes (--max-buffer-total); the holes were skipped",
                conn.buffers_released, self.opts.max_buffered_total
            ));
        }
        if oversized > 0 {
            notes.push(format!(
                "{oversized} handshake message(s) claimed more than {} bytes \
                 (--max-handshake-message); parsing of that direction stopped there",
                self.opts.max_handshake_message
            ));
        }
        if suppressed > 0 {
            notes.push(format!(
                "{suppressed} TLS events beyond {} per direction were not recorded",
                crate::tls::MAX_EVENTS_PER_DIRECTION
            ));
        }
    }

    /// Judge connections that are over (or all, at the end), in order of their first packet.
    /// Judge the given connections in order of their first packet.
    fn judge_ready(
        &mut self,
        mut ready: Vec<(u64, TableKey, JudgedBecause)>,
        done: &mut dyn FnMut(Box<Connection>, Judgment),
    ) {
        ready.sort_by_key(|r| r.0);
        for (_, k, why) in ready {
            if let Some(c) = self.table.remove(&k) {
                if why == JudgedBecause::Idle {
                    self.totals.idle_judged += 1;
                }
                self.judge(c, why, done);
            }
        }
    }

    fn sweep(&mut self, all: bool, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        self.clock.swept();
        let now = self.clock.now();
        let grace = self.opts.close_grace_ns;
        let idle = self.opts.idle_timeout_ns;
        let ready: Vec<(u64, TableKey, JudgedBecause)> = self
            .table
            .iter()
            .filter_map(|(k, c)| {
                let quiet = now.since(c.tcp.last.ts);
                if all {
                    Some((c.id, *k, JudgedBecause::EndOfInput))
                } else if c.tcp.is_closed() && quiet >= grace {
                    Some((c.id, *k, JudgedBecause::Closed))
                } else if quiet >= idle {
                    Some((c.id, *k, JudgedBecause::Idle))
                } else {
                    None
                }
            })
            .collect();
        self.judge_ready(ready, done);
    }

    fn evict_oldest(&mut self, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        // Judge the least recently active tenth, so eviction work is amortised.
        let mut by_age: Vec<(Timestamp, FlowKey, TableKey)> = self
            .table
            .iter()
            .map(|(k, c)| (c.tcp.last.ts, conn_flow_key(c), *k))
            .collect();
        by_age.sort_unstable_by_key(|x| (x.0, x.1));
        let n = (self.table.len() / 10).max(1);
        for (_, _, k) in by_age.into_iter().take(n) {
            if let Some(c) = self.table.remove(&k) {
                self.totals.evicted += 1;
                self.totals.limits.connections = self.totals.limits.connections.saturating_add(1);
                self.judge(c, JudgedBecause::Evicted, done);
            }
        }
    }

    /// Live capture only (files never call it, so `analyze` output depends on the packets alone):
    /// advance the clock to `now`, a wall-clock time later than the packets fed so far, and judge
    /// what is already known instead of waiting for more packets or the end of the input:
    ///
    /// - a connection that ended (an RST or a FIN either way, or a fatal alert) once
    ///   `close_grace_ns` has passed since its last packet;
    /// - a connection still waiting for the server's first answer, to its last SYN (nothing came
    ///   back) or to its ClientHello (no byte came back), once `verdict.quiet_ns` has passed since;
    /// - a connection idle for `idle_timeout_ns`.
    ///
    /// Judged connections go to `done` in order of their first packet.
    pub fn tick(&mut self, now: Timestamp, done: &mut dyn FnMut(Box<Connection>, Judgment)) {
        self.clock.advance(now);
        let now = self.clock.now();
        let (grace, quiet, idle) = (
            self.opts.close_grace_ns,
            self.opts.verdict.quiet_ns,
            self.opts.idle_timeout_ns,
        );
        let ready: Vec<(u64, TableKey, JudgedBecause)> = self
            .table
            .iter()
            .filter_map(|(k, c)| {
                let why = if ended(c) && now.since(c.tcp.last.ts) >= grace {
                    JudgedBecause::Closed
                } else if awaiting_server_since(c).is_some_and(|t| now.since(t) >= quiet) {
                    JudgedBecause::Quiet
                } else if now.since(c.tcp.last.ts) >= idle {
                    JudgedBecause::Idle
                } else {
                    return None;
                };
                Some((c.id, *k, why))
            })
            .collect();
        self.judge_ready(ready, done);
    }
}

/// The connection is over as far as a live verdict goes: an RST or a FIN either way, or a fatal alert.
fn ended(c: &Connection) -> bool {
    c.tcp
        .side
        .iter()
        .any(|s| s.first_fin.is_some() || s.first_rst.is_some())
        || c.events
            .iter()
            .any(|e| matches!(&e.event.kind, TlsEventKind::Alert(a) if a.level == 2))
}

/// Since when the connection has waited for the server's first answer: its last SYN (or
/// ClientHello) when nothing came back from the server, its ClientHello when the server sent no byte.
fn awaiting_server_since(c: &Connection) -> Option<Timestamp> {
    let server = &c.tcp.side[Direction::ToClient.index()];
    if server.first_rst.is_some() || server.first_fin.is_some() || server.payload_bytes > 0 {
        return None;
    }
    let client_hello = c
        .events
        .iter()
        .find(|e| matches!(e.event.kind, TlsEventKind::ClientHello(_)))
        .map(|e| e.at.ts);
    if server.packets > 0 {
        return client_hello;
    }
    let syn = c.tcp.last_syn.or(c.tcp.syn).map(|s| s.at.ts);
    syn.max(client_hello)
}
