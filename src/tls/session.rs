//! [`TlsSession`]: the per-connection observer that frames records, reassembles handshake messages,
//! tracks encryption state and handshake progress, and recognises HTTP or anything else arriving
//! instead of TLS.
//!
//! # Determinism
//! Every event is emitted at the stream byte that completes it (a record header, a handshake
//! message's last byte, an alert's second byte, an HTTP header block's blank line), and sniffing
//! decides from the bytes alone. So the events of a direction (kinds and offsets) do not depend on
//! how its bytes were split into [`TlsSession::feed`] calls (this includes where TLS starts late in a
//! not-TLS stream: see the `late` module). The only exceptions are two excerpts,
//! which show what was at hand when the event was emitted: [`NotTls::excerpt`] and
//! [`HttpResponse::body_excerpt`] in the events; [`TlsSession::not_tls`] and
//! [`TlsSession::http_response`] hold the complete excerpts.
//!
//! # Memory
//! Per direction: one partial handshake message (<= [`MAX_HANDSHAKE_MESSAGE`](super::MAX_HANDSHAKE_MESSAGE) = 64 KiB), or one
//! SSLv2 record (<= 32 KiB), or one HTTP header block (<= 8 KiB), plus a 5-byte record header,
//! 16 bytes of sniffing, 10 bytes carried by the late-TLS scan and excerpts (<= 1 KiB). Per session: at most 4 ClientHellos, one
//! ServerHello, one HelloRetryRequest, one certificate chain (<= 32 certificates, decoded from one
//! message <= 64 KiB), and the latest HTTP request/response pair and CONNECT pair. Altogether well
//! under 1 MiB, whatever the input. Application data is skipped without buffering.
//!
//! # Layout
//! This file holds the state, the public API and the dispatch loop; `record` handles TLS records and
//! handshake messages, `plain` handles sniffing, SSLv2 ClientHellos and HTTP, `late` handles other
//! non-TLS bytes and finds TLS that starts later in them (STARTTLS, SSLRequest, SOCKS).

use std::sync::Arc;

use crate::tcp::Direction;

use super::handshake::Reassembler;
use super::{
    CertInfo, ClientHello, DirectionStats, HandshakeProgress, HttpRequest, HttpResponse, NotTls,
    ServerHello, TlsEvent, TlsEventKind,
};

mod late;
mod plain;
mod record;

pub use late::LATE_TLS_SCAN_LIMIT;

/// Largest record length accepted (RFC 5246: 2^14 + 2048 for TLSCiphertext).
pub const MAX_RECORD_LEN: u16 = 16384 + 2048;

/// Encrypted records of at most this length are "alert-sized". A TLS 1.3 encrypted alert is
/// 2 bytes of alert + 1 byte inner content type + 16 bytes AEAD tag = 19 bytes with AES-GCM,
/// AES-CCM or ChaCha20-Poly1305; we allow a little slack (24). The smallest client Finished
/// (SHA-256 + CCM_8) is 4 + 32 + 1 + 8 = 45 bytes, with a 16-byte tag 53 (49+ in practice), so a
/// record above this bound is not an alert. The verdict engine applies the same heuristic to
/// [`TlsEventKind::EncryptedRecord`] lengths and [`DirectionStats::last_record`].
pub const ALERT_SIZED_MAX: u16 = 24;

/// Events emitted per direction at most; further ones are counted in
/// [`DirectionStats::events_suppressed`]. A real handshake needs a few dozen.
pub const MAX_EVENTS_PER_DIRECTION: u32 = 512;

/// ClientHellos kept (a second one follows a HelloRetryRequest).
pub const MAX_CLIENT_HELLOS: usize = 4;

/// What a direction's bytes are being parsed as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Sniffing the first bytes (at the start, and after an HTTP message or CONNECT tunnel set-up).
    Detect,
    /// TLS records.
    Tls,
    /// Collecting an SSLv2-compatible ClientHello record of `total` bytes starting at `start`.
    Sslv2 { start: u64, total: usize },
    /// Collecting an HTTP header block starting at `start`.
    HttpHead { start: u64 },
    /// Skipping an HTTP body (`remaining` bytes, or until the end when unknown); `excerpt` keeps its start.
    HttpBody {
        remaining: Option<u64>,
        excerpt: bool,
    },
    /// Not TLS: collecting the excerpt and scanning for TLS that starts later (STARTTLS, tunnels).
    NotTls,
    /// TLS records whose framing a gap broke (a segment cut by the snaplen, packets the capture
    /// lost): waiting for a segment that starts with a record header ([`TlsSession::step_resync`]).
    Resync,
    /// Not parsed any more (malformed, lost sync, or done): bytes are only counted.
    Stopped,
}

/// What happens to the body of the current record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Skip,
    Handshake,
    Alert,
}

#[derive(Clone, Copy, Debug)]
struct Record {
    start: u64,
    ctype: u8,
    version: u16,
    len: u16,
    remaining: usize,
    consumed: usize,
    body: Body,
}

impl Record {
    fn end(&self) -> u64 {
        self.start
            .saturating_add(5)
            .saturating_add(u64::from(self.len))
    }
}

/// State of one direction.
#[derive(Debug)]
struct Dir {
    mode: Mode,
    /// Stream offset of the next byte.
    pos: u64,
    stats: DirectionStats,
    detect: Vec<u8>,
    hdr: [u8; 5],
    hdr_len: usize,
    rec: Option<Record>,
    /// ChangeCipherSpec seen (TLS <= 1.2: everything after it is encrypted).
    ccs: bool,
    /// TLS <= 1.2: encrypted handshake record (Finished) after the CCS.
    finished: bool,
    hs: Reassembler,
    /// Handshake message framing lost in a gap; handshake records are no longer decoded.
    hs_desync: bool,
    alert_first: Option<u8>,
    /// SSLv2 record or HTTP header block being collected.
    buf: Vec<u8>,
    /// Raw start of a NotTls stream or an HTTP response body.
    excerpt_raw: Vec<u8>,
    not_tls: Option<NotTls>,
    /// Scanning a not-TLS stream for a late TLS start.
    late: late::LateScan,
    first_app: bool,
    events: u32,
    lost_sync: bool,
}

impl Dir {
    fn new() -> Self {
        Dir {
            mode: Mode::Detect,
            pos: 0,
            stats: DirectionStats::default(),
            detect: Vec::new(),
            hdr: [0; 5],
            hdr_len: 0,
            rec: None,
            ccs: false,
            finished: false,
            hs: Reassembler::default(),
            hs_desync: false,
            alert_first: None,
            buf: Vec::new(),
            excerpt_raw: Vec::new(),
            not_tls: None,
            late: late::LateScan::default(),
            first_app: false,
            events: 0,
            lost_sync: false,
        }
    }
}

/// Passive observer of one TCP connection's two byte streams. See the [module docs](self) for the
/// determinism and memory guarantees.
#[derive(Debug)]
pub struct TlsSession {
    client: Dir,
    server: Dir,
    client_hellos: Vec<Arc<ClientHello>>,
    client_hello_lost: bool,
    server_hello: Option<Arc<ServerHello>>,
    server_hello_lost: bool,
    hello_retry: Option<Arc<ServerHello>>,
    certificates: Arc<[CertInfo]>,
    have_certificates: bool,
    complete: bool,
    /// TLS 1.3: the server sent an encrypted record after its ServerHello.
    server_encrypted: bool,
    /// TLS 1.3: the client sent an encrypted record (or lost bytes) after that.
    client_after_flight: bool,
    // Boxed: rare, and every tracked connection carries these fields.
    http_request: Option<Box<HttpRequest>>,
    http_response: Option<Box<HttpResponse>>,
    connect_request: Option<Box<HttpRequest>>,
    connect_response: Option<Box<HttpResponse>>,
    connect_pending: bool,
    /// The HTTP response currently receiving body bytes answers a CONNECT.
    body_is_connect: bool,
}

impl Default for TlsSession {
    fn default() -> Self {
        Self::new()
    }
}

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from(hi) << 8 | u16::from(lo)
}

impl TlsSession {
    /// A session that has seen nothing.
    pub fn new() -> Self {
        TlsSession {
            client: Dir::new(),
            server: Dir::new(),
            client_hellos: Vec::new(),
            client_hello_lost: false,
            server_hello: None,
            server_hello_lost: false,
            hello_retry: None,
            certificates: Arc::new([]),
            have_certificates: false,
            complete: false,
            server_encrypted: false,
            client_after_flight: false,
            http_request: None,
            http_response: None,
            connect_request: None,
            connect_response: None,
            connect_pending: false,
            body_is_connect: false,
        }
    }

    fn d(&mut self, dir: Direction) -> &mut Dir {
        match dir {
            Direction::ToServer => &mut self.client,
            Direction::ToClient => &mut self.server,
        }
    }

    fn dr(&self, dir: Direction) -> &Dir {
        match dir {
            Direction::ToServer => &self.client,
            Direction::ToClient => &self.server,
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Public API
    // ----------------------------------------------------------------------------------------------

    /// In-order bytes of `dir`, continuing where the last feed/gap of that direction ended.
    /// Offsets in events are stream offsets of that direction (bytes since its first byte, counting gaps).
    pub fn feed(&mut self, dir: Direction, data: &[u8], out: &mut Vec<TlsEvent>) {
        let d = self.d(dir);
        d.stats.bytes = d.stats.bytes.saturating_add(data.len() as u64);
        // The common case in bulk transfers: the bytes lie inside the body of a record that is
        // skipped (what `process` and `step_tls` would do, without the dispatch).
        if d.mode == Mode::Tls {
            if let Some(r) = d.rec.as_mut() {
                if r.body == Body::Skip && data.len() <= r.remaining && !data.is_empty() {
                    r.remaining = r.remaining.saturating_sub(data.len());
                    r.consumed = r.consumed.saturating_add(data.len());
                    d.pos = d.pos.saturating_add(data.len() as u64);
                    if r.remaining == 0 {
                        self.finish_record(dir);
                    }
                    return;
                }
            }
        }
        self.process(dir, data, out);
    }

    /// `len` bytes of `dir` are missing (capture loss). Parsing resynchronises when the gap lies
    /// inside a record body whose header was read (or inside an HTTP body of known length, or in
    /// bytes that are not parsed anyway). A gap inside a handshake message body drops that message's
    /// content (it is reported as [`TlsEventKind::Handshake`] with its type); a gap that breaks
    /// handshake-message framing inside a record stops handshake decoding for the direction and
    /// emits [`TlsEventKind::LostSync`] while record framing goes on. A gap that covers a record
    /// header (or sniffing, or an HTTP header block) stops the direction: LostSync, once.
    pub fn gap(&mut self, dir: Direction, len: u64, out: &mut Vec<TlsEvent>) {
        if len == 0 {
            return;
        }
        let d = self.d(dir);
        let start = d.pos;
        let end = start.saturating_add(len);
        d.pos = end;
        d.stats.gap_bytes = d.stats.gap_bytes.saturating_add(len);
        if dir == Direction::ToServer && self.server_encrypted {
            self.client_after_flight = true;
        }
        match self.dr(dir).mode {
            Mode::Stopped | Mode::Resync => {}
            Mode::NotTls => self.d(dir).late.reset_after_gap(),
            Mode::Detect | Mode::Sslv2 { .. } => self.lose_sync(dir, start, end, out),
            Mode::HttpHead { .. } => {
                // An HTTP head cut by the capture (a CONNECT request, a proxy's answer): what the
                // next captured segment starts with is sniffed again, so TLS in a tunnel is seen.
                self.lose_sync(dir, start, end, out);
                let d = self.d(dir);
                d.buf.clear();
                d.mode = Mode::Detect;
            }
            Mode::HttpBody { remaining, .. } => match remaining {
                None => {
                    self.d(dir).mode = Mode::HttpBody {
                        remaining: None,
                        excerpt: false,
                    }
                }
                Some(r) if len <= r => {
                    let left = r.saturating_sub(len);
                    self.d(dir).mode = if left == 0 {
                        Mode::Detect
                    } else {
                        Mode::HttpBody {
                            remaining: Some(left),
                            excerpt: false,
                        }
                    };
                }
                Some(_) => self.lose_sync(dir, start, end, out),
            },
            Mode::Tls => self.gap_tls(dir, len, start, end, out),
        }
    }

    /// How far the handshake got.
    pub fn progress(&self) -> HandshakeProgress {
        if self.complete {
            HandshakeProgress::Complete
        } else if self.server_hello.is_some() || self.server_hello_lost {
            HandshakeProgress::ServerHello
        } else if self.hello_retry.is_some() {
            HandshakeProgress::HelloRetry
        } else if !self.client_hellos.is_empty() || self.client_hello_lost {
            HandshakeProgress::ClientHello
        } else {
            HandshakeProgress::None
        }
    }

    /// The first ClientHello.
    pub fn client_hello(&self) -> Option<&ClientHello> {
        self.client_hellos.first().map(|c| &**c)
    }

    /// All ClientHellos (the second follows a HelloRetryRequest), at most [`MAX_CLIENT_HELLOS`].
    pub fn client_hellos(&self) -> &[Arc<ClientHello>] {
        &self.client_hellos
    }

    /// The real ServerHello (not a HelloRetryRequest), the first one seen.
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.server_hello.as_deref()
    }

    /// The HelloRetryRequest, if any.
    pub fn hello_retry(&self) -> Option<&ServerHello> {
        self.hello_retry.as_deref()
    }

    /// The server's certificate chain (TLS <= 1.2, plaintext), from its first Certificate message.
    pub fn certificates(&self) -> &[CertInfo] {
        &self.certificates
    }

    /// The negotiated version: from the ServerHello, else from a HelloRetryRequest.
    pub fn version(&self) -> Option<u16> {
        self.server_hello()
            .or(self.hello_retry())
            .map(ServerHello::version)
    }

    /// Counters and last record of a direction.
    pub fn stats(&self, dir: Direction) -> &DirectionStats {
        &self.dr(dir).stats
    }

    /// The latest HTTP CONNECT request seen from the client.
    pub fn connect_request(&self) -> Option<&HttpRequest> {
        self.connect_request.as_deref()
    }

    /// The response to the latest CONNECT request, with its body excerpt as far as seen.
    pub fn connect_response(&self) -> Option<&HttpResponse> {
        self.connect_response.as_deref()
    }

    /// The latest HTTP request (any method) seen from the client.
    pub fn http_request(&self) -> Option<&HttpRequest> {
        self.http_request.as_deref()
    }

    /// The latest HTTP response seen from the server, with its body excerpt as far as seen
    /// (the [`TlsEventKind::HttpResponse`] event only has the body bytes that arrived with the header).
    pub fn http_response(&self) -> Option<&HttpResponse> {
        self.http_response.as_deref()
    }

    /// What a direction carries when it is neither TLS nor HTTP, with the full excerpt (up to 120
    /// characters) as far as seen.
    pub fn not_tls(&self, dir: Direction) -> Option<&NotTls> {
        self.dr(dir).not_tls.as_ref()
    }

    /// A ClientHello or ServerHello (or HelloRetryRequest) was seen.
    pub fn is_tls(&self) -> bool {
        !self.client_hellos.is_empty()
            || self.client_hello_lost
            || self.server_hello.is_some()
            || self.server_hello_lost
            || self.hello_retry.is_some()
    }

    /// The handshake completed and the connection carries application data.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Sets the largest handshake message reassembled, header included (default
    /// [`MAX_HANDSHAKE_MESSAGE`](super::MAX_HANDSHAKE_MESSAGE)); a longer claim is reported as
    /// malformed and counted in [`DirectionStats::oversized_messages`].
    pub fn set_max_handshake_message(&mut self, max: usize) {
        self.client.hs.set_max(max);
        self.server.hs.set_max(max);
    }

    /// Bytes currently allocated for parse buffers in both directions (the bounded part of the
    /// session's memory, see the [module docs](self)).
    pub fn buffered_bytes(&self) -> usize {
        [&self.client, &self.server]
            .iter()
            .map(|d| {
                d.detect
                    .capacity()
                    .saturating_add(d.buf.capacity())
                    .saturating_add(d.excerpt_raw.capacity())
                    .saturating_add(d.hs.buffered())
                    .saturating_add(d.late.buffered())
            })
            .fold(0, usize::saturating_add)
    }

    // ----------------------------------------------------------------------------------------------
    // Dispatch
    // ----------------------------------------------------------------------------------------------

    fn emit(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        kind: TlsEventKind,
        out: &mut Vec<TlsEvent>,
    ) {
        let d = self.d(dir);
        if d.events >= MAX_EVENTS_PER_DIRECTION {
            d.stats.events_suppressed = d.stats.events_suppressed.saturating_add(1);
            return;
        }
        d.events = d.events.saturating_add(1);
        out.push(TlsEvent {
            dir,
            start,
            end,
            kind,
        });
    }

    fn malformed(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        why: String,
        out: &mut Vec<TlsEvent>,
    ) {
        self.emit(dir, start, end, TlsEventKind::Malformed(why), out);
        self.d(dir).mode = Mode::Stopped;
    }

    /// A gap broke the record framing of a TLS stream: said once ([`TlsEventKind::LostSync`]),
    /// then records are looked for again where a captured segment begins
    /// ([`TlsSession::step_resync`]). A snaplen cuts every segment, so the records of a later flight
    /// (a TLS 1.2 server's ChangeCipherSpec and Finished, TLS 1.3 application data) are still seen.
    /// Handshake messages are not decoded after that: a record found this way may continue a
    /// message whose start was lost.
    pub(super) fn lose_framing(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        out: &mut Vec<TlsEvent>,
    ) {
        self.lose_sync(dir, start, end, out);
        if dir == Direction::ToClient && self.tls13_negotiated() {
            // After a TLS 1.3 ServerHello every server record is encrypted: what the gap hid was
            // (part of) the server's encrypted flight.
            self.server_encrypted = true;
        }
        let d = self.d(dir);
        d.mode = Mode::Resync;
        d.rec = None;
        d.hdr_len = 0;
        d.hs.reset();
        d.hs_desync = true;
    }

    /// [`Mode::Resync`]: `data` begins where a captured segment begins (the bytes before it were a
    /// gap). Framing resumes there if it starts with a record header a TLS stack writes (content
    /// type 20 to 23, version 3.x, a length within the limit), which bytes inside a record match
    /// about once in three million segments; otherwise the segment is passed over.
    pub(super) fn step_resync(&mut self, dir: Direction, data: &[u8]) -> usize {
        let header = match data {
            [t, 3, minor, l1, l2, ..] => {
                (20..=23).contains(t)
                    && *minor <= 4
                    && (1..=MAX_RECORD_LEN).contains(&be16(*l1, *l2))
            }
            _ => false,
        };
        if header {
            self.d(dir).mode = Mode::Tls;
            0
        } else {
            data.len()
        }
    }

    fn lose_sync(&mut self, dir: Direction, start: u64, end: u64, out: &mut Vec<TlsEvent>) {
        let d = self.d(dir);
        d.mode = Mode::Stopped;
        if !d.lost_sync {
            d.lost_sync = true;
            self.emit(dir, start, end, TlsEventKind::LostSync, out);
        }
    }

    /// Runs `data` (whose first byte is at the direction's current offset) through the parsers.
    fn process(&mut self, dir: Direction, mut data: &[u8], out: &mut Vec<TlsEvent>) {
        let mut idle = 0u32;
        while !data.is_empty() {
            let mode = self.dr(dir).mode;
            let used = match mode {
                Mode::Detect => self.step_detect(dir, data, out),
                Mode::Tls => self.step_tls(dir, data, out),
                Mode::Sslv2 { start, total } => self.step_sslv2(dir, data, start, total, out),
                Mode::HttpHead { start } => self.step_http_head(dir, data, start, out),
                Mode::HttpBody { remaining, excerpt } => {
                    self.step_http_body(dir, data, remaining, excerpt)
                }
                Mode::NotTls => self.step_not_tls(dir, data, out),
                Mode::Resync => self.step_resync(dir, data),
                Mode::Stopped => data.len(),
            };
            let used = used.min(data.len());
            if used == 0 {
                // A step that consumes nothing must have changed the mode; never spin.
                idle = idle.saturating_add(1);
                if idle > 4 || self.dr(dir).mode == mode {
                    self.d(dir).mode = Mode::Stopped;
                }
                continue;
            }
            idle = 0;
            let d = self.d(dir);
            d.pos = d.pos.saturating_add(used as u64);
            data = data.get(used..).unwrap_or_default();
        }
    }
}
