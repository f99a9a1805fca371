//! [`TlsSession`]: the per-connection observer that frames records, reassembles handshake messages,
//! tracks encryption state and handshake progress, and recognises HTTP or anything else arriving
//! instead of TLS.
//!
//! # Determinism
//! Every event is emitted at the stream byte that completes it (a record header, a handshake
//! message's last byte, an alert's second byte, an HTTP header block's blank line), and sniffing
//! decides from the bytes alone. So the events of a direction (kinds and offsets) do not depend on
//! how its bytes were split into [`TlsSession::feed`] calls. The only exceptions are two excerpts,
//! which show what was at hand when the event was emitted: [`NotTls::excerpt`] and
//! [`HttpResponse::body_excerpt`] in the events; [`TlsSession::not_tls`] and
//! [`TlsSession::http_response`] hold the complete excerpts.
//!
//! # Memory
//! Per direction: one partial handshake message (<= [`MAX_HANDSHAKE_MESSAGE`] = 64 KiB), or one
//! SSLv2 record (<= 32 KiB), or one HTTP header block (<= 8 KiB), plus a 5-byte record header,
//! 16 bytes of sniffing and excerpts (<= 1 KiB). Per session: at most 4 ClientHellos, one
//! ServerHello, one HelloRetryRequest, one certificate chain (<= 32 certificates, decoded from one
//! message <= 64 KiB), and the latest HTTP request/response pair and CONNECT pair. Altogether well
//! under 1 MiB, whatever the input. Application data is skipped without buffering.

use crate::tcp::Direction;

use super::cert::parse_certificate_message;
use super::handshake::{HsMessage, Reassembler, Step};
use super::hello::{parse_client_hello, parse_server_hello, parse_sslv2_client_hello};
use super::http::{
    classify, find_head_end, parse_head, printable_excerpt, Detected, DETECT_MAX, MAX_BODY_EXCERPT,
    MAX_EXCERPT_CHARS, MAX_HTTP_HEAD,
};
use super::names::is_tls13_version;
use super::{
    Alert, CertInfo, ClientHello, DirectionStats, HandshakeProgress, HttpRequest, HttpResponse,
    NotTls, ServerHello, TlsEvent, TlsEventKind, MAX_HANDSHAKE_MESSAGE,
};

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
    /// Not TLS: collecting the excerpt, then counting bytes only.
    NotTls,
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
    client_hellos: Vec<ClientHello>,
    client_hello_lost: bool,
    server_hello: Option<ServerHello>,
    server_hello_lost: bool,
    hello_retry: Option<ServerHello>,
    certificates: Vec<CertInfo>,
    have_certificates: bool,
    complete: bool,
    /// TLS 1.3: the server sent an encrypted record after its ServerHello.
    server_encrypted: bool,
    /// TLS 1.3: the client sent an encrypted record (or lost bytes) after that.
    client_after_flight: bool,
    http_request: Option<HttpRequest>,
    http_response: Option<HttpResponse>,
    connect_request: Option<HttpRequest>,
    connect_response: Option<HttpResponse>,
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
            certificates: Vec::new(),
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
            Mode::Stopped => {}
            Mode::NotTls => self.d(dir).mode = Mode::Stopped,
            Mode::Detect | Mode::Sslv2 { .. } | Mode::HttpHead { .. } => {
                self.lose_sync(dir, start, end, out)
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
        self.client_hellos.first()
    }

    /// All ClientHellos (the second follows a HelloRetryRequest), at most [`MAX_CLIENT_HELLOS`].
    pub fn client_hellos(&self) -> &[ClientHello] {
        &self.client_hellos
    }

    /// The real ServerHello (not a HelloRetryRequest), the first one seen.
    pub fn server_hello(&self) -> Option<&ServerHello> {
        self.server_hello.as_ref()
    }

    /// The HelloRetryRequest, if any.
    pub fn hello_retry(&self) -> Option<&ServerHello> {
        self.hello_retry.as_ref()
    }

    /// The server's certificate chain (TLS <= 1.2, plaintext), from its first Certificate message.
    pub fn certificates(&self) -> &[CertInfo] {
        &self.certificates
    }

    /// The negotiated version: from the ServerHello, else from a HelloRetryRequest.
    pub fn version(&self) -> Option<u16> {
        self.server_hello
            .as_ref()
            .or(self.hello_retry.as_ref())
            .map(ServerHello::version)
    }

    /// Counters and last record of a direction.
    pub fn stats(&self, dir: Direction) -> &DirectionStats {
        &self.dr(dir).stats
    }

    /// The latest HTTP CONNECT request seen from the client.
    pub fn connect_request(&self) -> Option<&HttpRequest> {
        self.connect_request.as_ref()
    }

    /// The response to the latest CONNECT request, with its body excerpt as far as seen.
    pub fn connect_response(&self) -> Option<&HttpResponse> {
        self.connect_response.as_ref()
    }

    /// The latest HTTP request (any method) seen from the client.
    pub fn http_request(&self) -> Option<&HttpRequest> {
        self.http_request.as_ref()
    }

    /// The latest HTTP response seen from the server, with its body excerpt as far as seen
    /// (the [`TlsEventKind::HttpResponse`] event only has the body bytes that arrived with the header).
    pub fn http_response(&self) -> Option<&HttpResponse> {
        self.http_response.as_ref()
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
                Mode::NotTls => self.step_not_tls(dir, data),
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

    // ----------------------------------------------------------------------------------------------
    // Sniffing
    // ----------------------------------------------------------------------------------------------

    fn step_detect(&mut self, dir: Direction, data: &[u8], out: &mut Vec<TlsEvent>) -> usize {
        let from_client = dir == Direction::ToServer;
        let d = self.d(dir);
        let have = d.detect.len();
        let mut probe = d.detect.clone();
        probe.extend(data.iter().take(DETECT_MAX.saturating_sub(have)));
        let Some(kind) = classify(&probe, from_client) else {
            let took = probe.len().saturating_sub(have);
            d.detect = probe;
            return took;
        };
        let saved = std::mem::take(&mut d.detect);
        let start = d.pos.saturating_sub(saved.len() as u64);
        match kind {
            Detected::Tls => {
                d.mode = Mode::Tls;
                d.stats.not_tls = false;
            }
            Detected::Sslv2ClientHello => {
                let len = match (probe.first(), probe.get(1)) {
                    (Some(&a), Some(&b)) => usize::from(be16(a & 0x7f, b)),
                    _ => 0,
                };
                d.buf.clear();
                d.mode = Mode::Sslv2 {
                    start,
                    total: len.saturating_add(2),
                };
            }
            Detected::HttpRequest | Detected::HttpResponse => {
                d.buf.clear();
                d.stats.not_tls = true;
                d.mode = Mode::HttpHead { start };
            }
            Detected::Other(label) => {
                d.stats.not_tls = true;
                d.excerpt_raw.clear();
                d.mode = Mode::NotTls;
                // The event shows what is at hand now; `not_tls()` grows to the full excerpt.
                let mut avail = saved.clone();
                avail.extend(data.iter().take(MAX_EXCERPT_CHARS));
                let (excerpt, shown) = printable_excerpt(&avail, MAX_EXCERPT_CHARS);
                let info = NotTls {
                    looks_like: label.to_owned(),
                    excerpt,
                };
                d.not_tls = Some(NotTls {
                    looks_like: label.to_owned(),
                    excerpt: String::new(),
                });
                let end = start.saturating_add(shown as u64);
                self.emit(dir, start, end, TlsEventKind::NotTls(info), out);
            }
        }
        if !saved.is_empty() {
            // Replay the sniffed bytes through the chosen parser from where they started.
            self.d(dir).pos = start;
            self.process(dir, &saved, out);
        }
        0
    }

    fn step_not_tls(&mut self, dir: Direction, data: &[u8]) -> usize {
        let d = self.d(dir);
        let room = MAX_EXCERPT_CHARS.saturating_sub(d.excerpt_raw.len());
        d.excerpt_raw.extend(data.iter().take(room));
        if let Some(n) = d.not_tls.as_mut() {
            n.excerpt = printable_excerpt(&d.excerpt_raw, MAX_EXCERPT_CHARS).0;
        }
        if d.excerpt_raw.len() >= MAX_EXCERPT_CHARS {
            d.mode = Mode::Stopped;
        }
        data.len()
    }

    fn step_sslv2(
        &mut self,
        dir: Direction,
        data: &[u8],
        start: u64,
        total: usize,
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let d = self.d(dir);
        let take = total.saturating_sub(d.buf.len()).min(data.len());
        d.buf.extend(data.iter().take(take));
        if d.buf.len() < total {
            return take;
        }
        let record = std::mem::take(&mut d.buf);
        d.stats.records = d.stats.records.saturating_add(1);
        let len = u16::try_from(total.saturating_sub(2)).unwrap_or(u16::MAX);
        d.stats.last_record = Some((start, 0x80, len));
        d.mode = Mode::Tls;
        let end = start.saturating_add(total as u64);
        match parse_sslv2_client_hello(&record) {
            Ok(ch) => self.on_client_hello(dir, start, end, ch, out),
            Err(e) => self.malformed(dir, start, end, e, out),
        }
        take
    }

    // ----------------------------------------------------------------------------------------------
    // HTTP
    // ----------------------------------------------------------------------------------------------

    fn step_http_head(
        &mut self,
        dir: Direction,
        data: &[u8],
        start: u64,
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let d = self.d(dir);
        let old = d.buf.len();
        let take = MAX_HTTP_HEAD.saturating_sub(old).min(data.len());
        d.buf.extend(data.iter().take(take));
        // `complete` is false when the block is cut at MAX_HTTP_HEAD: report it as far as it got.
        let (head_len, used, complete) = match find_head_end(&d.buf, old) {
            Some(end) => (end, end.saturating_sub(old), true),
            None if d.buf.len() >= MAX_HTTP_HEAD => (d.buf.len(), take, false),
            None => return take,
        };
        d.buf.truncate(head_len);
        let head = parse_head(&d.buf);
        d.buf = Vec::new();
        let end = start.saturating_add(head_len as u64);
        if dir == Direction::ToServer {
            let req = head.request();
            self.http_request = Some(req.clone());
            let is_connect = req.method.eq_ignore_ascii_case("CONNECT");
            if is_connect {
                self.connect_request = Some(req.clone());
                self.connect_response = None;
                self.connect_pending = true;
            }
            self.emit(dir, start, end, TlsEventKind::HttpRequest(req), out);
            self.d(dir).mode = match head.content_length() {
                _ if !complete => Mode::Stopped,
                _ if is_connect => Mode::Detect,
                Some(n) if n > 0 => Mode::HttpBody {
                    remaining: Some(n),
                    excerpt: false,
                },
                _ => Mode::Detect,
            };
            return used;
        }
        let mut resp = head.response(head_len);
        let status = resp.status;
        let for_connect = self.connect_pending;
        let tunnel = for_connect && (200..300).contains(&status);
        let no_body = (100..200).contains(&status) || status == 204 || status == 304;
        let length = head.content_length();
        let mode = if !complete {
            Mode::Stopped
        } else if tunnel || no_body || length == Some(0) {
            Mode::Detect
        } else {
            Mode::HttpBody {
                remaining: length,
                excerpt: true,
            }
        };
        let stored = resp.clone();
        if matches!(mode, Mode::HttpBody { .. }) {
            // The event carries the body bytes that came with the header block.
            let rest = data.get(used..).unwrap_or_default();
            let n = usize::try_from(length.unwrap_or(u64::MAX))
                .unwrap_or(usize::MAX)
                .min(MAX_BODY_EXCERPT)
                .min(rest.len());
            resp.body_excerpt = String::from_utf8_lossy(rest.get(..n).unwrap_or_default()).into();
        }
        if for_connect && !(100..200).contains(&status) {
            self.connect_pending = false;
            self.connect_response = Some(stored.clone());
        }
        self.body_is_connect = for_connect;
        self.http_response = Some(stored);
        let d = self.d(dir);
        d.excerpt_raw.clear();
        d.mode = mode;
        self.emit(dir, start, end, TlsEventKind::HttpResponse(resp), out);
        used
    }

    fn step_http_body(
        &mut self,
        dir: Direction,
        data: &[u8],
        remaining: Option<u64>,
        excerpt: bool,
    ) -> usize {
        let take = match remaining {
            Some(r) => usize::try_from(r).unwrap_or(usize::MAX).min(data.len()),
            None => data.len(),
        };
        let d = self.d(dir);
        let mut excerpt = excerpt;
        if excerpt {
            let room = MAX_BODY_EXCERPT.saturating_sub(d.excerpt_raw.len());
            d.excerpt_raw.extend(data.iter().take(take.min(room)));
            let text: String = String::from_utf8_lossy(&d.excerpt_raw).into();
            if d.excerpt_raw.len() >= MAX_BODY_EXCERPT {
                excerpt = false;
            }
            let to_connect = self.body_is_connect;
            if let Some(r) = self.http_response.as_mut() {
                r.body_excerpt.clone_from(&text);
            }
            if to_connect {
                if let Some(r) = self.connect_response.as_mut() {
                    r.body_excerpt = text;
                }
            }
        }
        let d = self.d(dir);
        d.mode = match remaining {
            Some(r) => {
                let left = r.saturating_sub(take as u64);
                if left == 0 {
                    Mode::Detect
                } else {
                    Mode::HttpBody {
                        remaining: Some(left),
                        excerpt,
                    }
                }
            }
            None if !excerpt => Mode::Stopped,
            None => Mode::HttpBody {
                remaining: None,
                excerpt,
            },
        };
        take
    }

    // ----------------------------------------------------------------------------------------------
    // TLS records
    // ----------------------------------------------------------------------------------------------

    /// TLS 1.3 was negotiated (or, before a ServerHello, is what this direction is doing).
    fn tls13_for(&self, dir: Direction) -> bool {
        match &self.server_hello {
            Some(sh) => is_tls13_version(sh.version()),
            None => {
                self.hello_retry.is_some()
                    || (dir == Direction::ToServer
                        && self.client_hellos.first().is_some_and(|ch| {
                            ch.supported_versions.iter().any(|v| is_tls13_version(*v))
                        }))
            }
        }
    }

    fn tls13_negotiated(&self) -> bool {
        self.server_hello
            .as_ref()
            .is_some_and(|sh| is_tls13_version(sh.version()))
    }

    fn is_encrypted(&self, dir: Direction, ctype: u8) -> bool {
        ctype == 23 || (!self.tls13_for(dir) && self.dr(dir).ccs)
    }

    fn step_tls(&mut self, dir: Direction, data: &[u8], out: &mut Vec<TlsEvent>) -> usize {
        let d = self.d(dir);
        let Some(rec) = d.rec else {
            let old = d.hdr_len;
            let take = 5usize.saturating_sub(old).min(data.len());
            for (slot, &b) in d.hdr.iter_mut().skip(old).zip(data.iter()) {
                *slot = b;
            }
            d.hdr_len = old.saturating_add(take);
            if d.hdr_len == 5 {
                d.hdr_len = 0;
                let start = d.pos.saturating_sub(old as u64);
                let hdr = d.hdr;
                self.on_record_header(dir, start, hdr, out);
            }
            return take;
        };
        let take = rec.remaining.min(data.len());
        let chunk = data.get(..take).unwrap_or_default();
        match rec.body {
            Body::Skip => {}
            Body::Alert => self.alert_bytes(dir, &rec, chunk, out),
            Body::Handshake => self.handshake_bytes(dir, &rec, chunk, out),
        }
        let d = self.d(dir);
        if d.mode == Mode::Tls {
            if let Some(r) = d.rec.as_mut() {
                r.remaining = r.remaining.saturating_sub(take);
                r.consumed = r.consumed.saturating_add(take);
                if r.remaining == 0 {
                    self.finish_record(dir);
                }
            }
        }
        take
    }

    fn finish_record(&mut self, dir: Direction) {
        let d = self.d(dir);
        if let Some(r) = d.rec.take() {
            d.stats.last_record = Some((r.start, r.ctype, r.len));
            d.stats.current_record = None;
        }
    }

    fn on_record_header(
        &mut self,
        dir: Direction,
        start: u64,
        hdr: [u8; 5],
        out: &mut Vec<TlsEvent>,
    ) {
        let [ctype, major, minor, l1, l2] = hdr;
        let len = be16(l1, l2);
        let end = start.saturating_add(5).saturating_add(u64::from(len));
        if dir == Direction::ToClient && &hdr == b"HTTP/" {
            // An HTTP response where a record was expected (e.g. a proxy or firewall answering
            // after a TLS alert): parse it as one.
            let d = self.d(dir);
            d.buf = hdr.to_vec();
            d.stats.not_tls = true;
            d.mode = Mode::HttpHead { start };
            return;
        }
        if !(20..=24).contains(&ctype) || major != 3 {
            let why = format!(
                "not a TLS record header: {ctype:02x} {major:02x}{minor:02x} {l1:02x}{l2:02x}"
            );
            return self.malformed(dir, start, start.saturating_add(5), why, out);
        }
        if len > MAX_RECORD_LEN {
            let why = format!("record length {len} exceeds 2^14+2048");
            return self.malformed(dir, start, end, why, out);
        }
        let encrypted = self.is_encrypted(dir, ctype);
        let complete = self.complete;
        let d = self.d(dir);
        d.stats.records = d.stats.records.saturating_add(1);
        if ctype == 23 {
            d.stats.app_data_records = d.stats.app_data_records.saturating_add(1);
        }
        d.stats.current_record = Some((start, ctype, len));
        let body = if encrypted {
            self.on_encrypted_record(dir, start, end, ctype, len, out);
            Body::Skip
        } else {
            match ctype {
                20 => {
                    d.ccs = true;
                    if !complete {
                        self.emit(dir, start, end, TlsEventKind::ChangeCipherSpec, out);
                    }
                    Body::Skip
                }
                21 => {
                    d.alert_first = None;
                    Body::Alert
                }
                22 if !complete && !d.hs_desync => Body::Handshake,
                _ => Body::Skip,
            }
        };
        let d = self.d(dir);
        d.rec = Some(Record {
            start,
            ctype,
            version: be16(major, minor),
            len,
            remaining: usize::from(len),
            consumed: 0,
            body,
        });
        if len == 0 {
            self.finish_record(dir);
        }
    }

    fn on_encrypted_record(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        ctype: u8,
        len: u16,
        out: &mut Vec<TlsEvent>,
    ) {
        if self.complete {
            let d = self.d(dir);
            if ctype == 23 && !d.first_app {
                d.first_app = true;
                self.emit(
                    dir,
                    start,
                    end,
                    TlsEventKind::FirstApplicationData { len },
                    out,
                );
            }
            return;
        }
        self.emit(
            dir,
            start,
            end,
            TlsEventKind::EncryptedRecord {
                content_type: ctype,
                len,
            },
            out,
        );
        if self.tls13_negotiated() {
            if ctype != 23 {
                return;
            }
            match dir {
                Direction::ToClient => {
                    // Server application data after the client answered its flight: the client's
                    // Finished got through (NewSessionTickets need the client Finished).
                    if self.client_after_flight && len > ALERT_SIZED_MAX {
                        self.complete = true;
                    }
                    self.server_encrypted = true;
                }
                Direction::ToServer => {
                    if self.server_encrypted {
                        self.client_after_flight = true;
                        if len > ALERT_SIZED_MAX {
                            self.complete = true;
                        }
                    }
                }
            }
        } else if ctype == 22 {
            let d = self.d(dir);
            if d.ccs {
                d.finished = true;
                if self.client.finished && self.server.finished {
                    self.complete = true;
                }
            }
        }
    }

    fn alert_bytes(&mut self, dir: Direction, rec: &Record, chunk: &[u8], out: &mut Vec<TlsEvent>) {
        for (i, &b) in chunk.iter().enumerate() {
            let index = rec.consumed.saturating_add(i);
            let d = self.d(dir);
            if index % 2 == 0 {
                d.alert_first = Some(b);
            } else if let Some(level) = d.alert_first.take() {
                let alert = Alert {
                    level,
                    description: b,
                };
                self.emit(dir, rec.start, rec.end(), TlsEventKind::Alert(alert), out);
            }
        }
    }

    fn handshake_bytes(
        &mut self,
        dir: Direction,
        rec: &Record,
        chunk: &[u8],
        out: &mut Vec<TlsEvent>,
    ) {
        let mut off = 0usize;
        let base = self.dr(dir).pos;
        while off < chunk.len() && self.dr(dir).mode == Mode::Tls {
            let rest = chunk.get(off..).unwrap_or_default();
            let at = base.saturating_add(off as u64);
            let (used, step) = self.d(dir).hs.push(rest, at, rec.start, rec.version);
            off = off.saturating_add(used.max(1));
            match step {
                None => {}
                Some(Step::Message(msg)) => self.on_message(dir, msg, out),
                Some(Step::TooLong { typ, len, start }) => {
                    let why = format!(
                        "handshake message type {typ} claims {len} bytes (limit {MAX_HANDSHAKE_MESSAGE})"
                    );
                    let end = base.saturating_add(off as u64);
                    self.malformed(dir, start, end, why, out);
                }
            }
        }
    }

    fn gap_tls(&mut self, dir: Direction, len: u64, start: u64, end: u64, out: &mut Vec<TlsEvent>) {
        let d = self.d(dir);
        let Some(rec) = d.rec else {
            // The gap covers (part of) a record header: framing is lost.
            return self.lose_sync(dir, start, end, out);
        };
        if len > rec.remaining as u64 {
            return self.lose_sync(dir, start, end, out);
        }
        match rec.body {
            Body::Skip => {}
            Body::Alert => d.alert_first = None,
            Body::Handshake => match d.hs.skip(len, end) {
                Ok(None) => {}
                Ok(Some(msg)) => self.on_message(dir, msg, out),
                Err(()) => {
                    let d = self.d(dir);
                    d.hs.reset();
                    d.hs_desync = true;
                    if let Some(r) = d.rec.as_mut() {
                        r.body = Body::Skip;
                    }
                    if !d.lost_sync {
                        d.lost_sync = true;
                        self.emit(dir, start, end, TlsEventKind::LostSync, out);
                    }
                }
            },
        }
        let d = self.d(dir);
        if let Some(r) = d.rec.as_mut() {
            let n = usize::try_from(len).unwrap_or(usize::MAX);
            r.remaining = r.remaining.saturating_sub(n);
            r.consumed = r.consumed.saturating_add(n);
            if r.remaining == 0 {
                self.finish_record(dir);
            }
        }
    }

    // ----------------------------------------------------------------------------------------------
    // Handshake messages
    // ----------------------------------------------------------------------------------------------

    fn on_client_hello(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        ch: ClientHello,
        out: &mut Vec<TlsEvent>,
    ) {
        if self.client_hellos.len() < MAX_CLIENT_HELLOS {
            self.client_hellos.push(ch.clone());
        }
        self.emit(
            dir,
            start,
            end,
            TlsEventKind::ClientHello(Box::new(ch)),
            out,
        );
    }

    fn on_message(&mut self, dir: Direction, msg: HsMessage, out: &mut Vec<TlsEvent>) {
        let HsMessage {
            typ,
            start,
            end,
            records,
            record_version,
            bytes,
            lost,
        } = msg;
        let to_server = dir == Direction::ToServer;
        match (typ, bytes) {
            (1, Some(b)) if to_server => match parse_client_hello(&b) {
                Ok(mut ch) => {
                    ch.record_version = record_version;
                    ch.records = records;
                    self.on_client_hello(dir, start, end, ch, out);
                }
                Err(e) => self.malformed(dir, start, end, e, out),
            },
            (2 | 6, Some(b)) if !to_server => match parse_server_hello(&b) {
                Ok(sh) => {
                    let slot = if sh.hello_retry_request {
                        &mut self.hello_retry
                    } else {
                        &mut self.server_hello
                    };
                    if slot.is_none() {
                        *slot = Some(sh.clone());
                    }
                    self.emit(
                        dir,
                        start,
                        end,
                        TlsEventKind::ServerHello(Box::new(sh)),
                        out,
                    );
                }
                Err(e) => self.malformed(dir, start, end, e, out),
            },
            (11, Some(b)) => match parse_certificate_message(&b) {
                Ok(certs) => {
                    if !to_server && !self.have_certificates {
                        self.have_certificates = true;
                        self.certificates.clone_from(&certs);
                    }
                    self.emit(dir, start, end, TlsEventKind::Certificate(certs), out);
                }
                Err(e) => self.malformed(dir, start, end, e, out),
            },
            _ => {
                if lost && typ == 1 && to_server {
                    self.client_hello_lost = true;
                }
                if lost && typ == 2 && !to_server {
                    self.server_hello_lost = true;
                }
                self.emit(dir, start, end, TlsEventKind::Handshake(typ), out);
            }
        }
    }
}
