//! TLS that starts later in a stream: STARTTLS (SMTP, IMAP, POP3, FTP `AUTH TLS`, IRC, XMPP, LDAP
//! StartTLS), PostgreSQL `SSLRequest`, SOCKS4/5 and other tunnels that set up in plaintext first.
//!
//! While a direction is in [`Mode::NotTls`] its bytes are scanned for the start of a handshake record
//! that opens TLS: a ClientHello from the client (TLS record or SSLv2-compatible), a ServerHello from
//! the server once the client sent a ClientHello. When one is found the direction switches to TLS
//! parsing from that byte; the bytes before it stay not-TLS (their [`NotTls`](crate::tls::TlsEventKind::NotTls) event and
//! excerpt remain).
//!
//! # What counts as a start
//! A TLS handshake record header `16 03 0X LL LL` (X <= 4, 4 <= length <= 2^14+2048) whose first
//! handshake message has the right type (1 from the client, 2 from the server), a 24-bit length
//! below 64 KiB and at least 38 (the smallest hello), and, when the record holds them, version bytes
//! at offsets 9-10: `03 0X` (X <= 4) for a ClientHello, `03`/`7e`/`7f`/`fb` first byte (final,
//! experimental and draft TLS 1.3) for a ServerHello. Or, from the client, an SSLv2-compatible
//! ClientHello whose 2-byte record length equals 9 + cipher specs + session id + challenge with
//! sane field lengths. That is 11 bytes: the decision about a position needs [`WINDOW`] bytes
//! from it, so at most `WINDOW - 1` bytes are carried across [`TlsSession::feed`] calls.
//!
//! # Determinism
//! A position is decided from its own bytes only ("no" as soon as one byte rules it out, "yes" only
//! with all [`WINDOW`] bytes), in stream order, so the switch point does not depend on how the bytes
//! were split into feed calls. The server's acceptance depends on a ClientHello having been seen
//! when the candidate's first byte is examined; the relative order of the two directions' bytes is
//! the same whatever the segmentation.
//!
//! # Bounds
//! Scanning stops at stream offset [`LATE_TLS_SCAN_LIMIT`]: protocols upgrade to TLS within their
//! first exchanges, and a limit keeps long plaintext or binary streams from ever being taken for TLS
//! by chance. Memory: the carry ([`WINDOW`] - 1 bytes) and the excerpt (<= 120 bytes).

use crate::tcp::Direction;

use super::{be16, Mode, TlsSession, MAX_RECORD_LEN};
use crate::tls::http::{printable_excerpt, MAX_EXCERPT_CHARS};
use crate::tls::TlsEvent;

/// Bytes needed to decide whether a position starts TLS.
pub(super) const WINDOW: usize = 11;

/// Bytes kept across feed calls: an undecided candidate's first bytes.
pub(super) const CARRY: usize = WINDOW - 1;

/// Stream offset beyond which a not-TLS direction is no longer scanned for a late TLS start.
pub const LATE_TLS_SCAN_LIMIT: u64 = 1 << 20;

/// The smallest ClientHello or ServerHello body: version, random, session id length, cipher suite(s),
/// compression method.
const MIN_HELLO_LEN: u16 = 38;

/// A late TLS start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// A TLS handshake record.
    Tls,
    /// An SSLv2-compatible ClientHello record of `total` bytes (2-byte header included).
    Sslv2 { total: usize },
}

/// The decision about one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decision {
    No,
    NeedMore,
    Yes(Start),
}

/// Result of scanning a run of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// TLS starts at this index.
    Found(usize, Start),
    /// Undecided from this index on (the run ended too early).
    Pending(usize),
    /// No start in the run.
    Nothing,
}

/// The late-TLS scanning state of a direction.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LateScan {
    /// First bytes of an undecided candidate at the end of the previous feed.
    carry: [u8; CARRY],
    carry_len: usize,
    /// The NotTls excerpt stops growing (it is full, or a gap broke the stream).
    excerpt_closed: bool,
}

impl LateScan {
    /// Forget the carried bytes (a gap: what follows is not contiguous with them).
    pub(super) fn reset_after_gap(&mut self) {
        self.carry_len = 0;
        self.excerpt_closed = true;
    }

    pub(super) fn buffered(&self) -> usize {
        self.carry_len
    }
}

/// Decides whether `w` (the bytes from a position on, possibly fewer than [`WINDOW`]) starts TLS.
fn decide(w: &[u8], client: bool, server_ok: bool) -> Decision {
    let Some(&b0) = w.first() else {
        return Decision::NeedMore;
    };
    if b0 == 0x16 {
        if !client && !server_ok {
            return Decision::No;
        }
        decide_tls(w, client)
    } else if client && b0 & 0x80 != 0 {
        decide_sslv2(w)
    } else {
        Decision::No
    }
}

/// `16 03 0X LL LL TT 00 LL LL VV VV`: record header, hello type, 24-bit length, hello version.
fn decide_tls(w: &[u8], client: bool) -> Decision {
    let at = |i: usize| w.get(i).copied();
    let record_len = match (at(3), at(4)) {
        (Some(l1), Some(l2)) => Some(be16(l1, l2)),
        _ => None,
    };
    if record_len.is_some_and(|len| !(4..=MAX_RECORD_LEN).contains(&len)) {
        return Decision::No;
    }
    // A record shorter than 6 bytes does not hold the version bytes: they are not checked then.
    let version_in_record = record_len.is_some_and(|len| len >= 6);
    let byte_ok = |i: usize, b: u8| match i {
        1 => b == 3,
        2 => b <= 4,
        5 => b == if client { 1 } else { 2 },
        6 => b == 0,
        9 if version_in_record && client => b == 3,
        9 if version_in_record => matches!(b, 0x03 | 0x7e | 0x7f | 0xfb),
        10 if version_in_record && client => b <= 4,
        _ => true,
    };
    if w.iter()
        .take(WINDOW)
        .enumerate()
        .any(|(i, &b)| !byte_ok(i, b))
    {
        return Decision::No;
    }
    if let (Some(h1), Some(h2)) = (at(7), at(8)) {
        if be16(h1, h2) < MIN_HELLO_LEN {
            return Decision::No;
        }
    }
    if w.len() < WINDOW {
        return Decision::NeedMore;
    }
    Decision::Yes(Start::Tls)
}

/// SSLv2-compatible ClientHello: `8L LL 01 VV VV CC CC SS SS HH HH`.
fn decide_sslv2(w: &[u8]) -> Decision {
    let at = |i: usize| w.get(i).copied();
    if let Some(b) = at(2) {
        if b != 1 {
            return Decision::No;
        }
    }
    match (at(3), at(4)) {
        (Some(0), Some(2)) | (Some(3), Some(0..=4)) | (Some(0 | 3), None) | (None, _) => {}
        _ => return Decision::No,
    }
    let pair = |i: usize| match (at(i), at(i.saturating_add(1))) {
        (Some(a), Some(b)) => Some(usize::from(be16(a, b))),
        _ => None,
    };
    let cs = pair(5);
    let sid = pair(7);
    let chal = pair(9);
    if cs.is_some_and(|c| c == 0 || c % 3 != 0) {
        return Decision::No;
    }
    if sid.is_some_and(|s| !matches!(s, 0 | 16 | 32)) {
        return Decision::No;
    }
    if chal.is_some_and(|c| !(16..=32).contains(&c)) {
        return Decision::No;
    }
    let (Some(b0), Some(b1), Some(cs), Some(sid), Some(chal)) = (at(0), at(1), cs, sid, chal)
    else {
        return Decision::NeedMore;
    };
    let len = usize::from(be16(b0 & 0x7f, b1));
    let want = 9usize
        .saturating_add(cs)
        .saturating_add(sid)
        .saturating_add(chal);
    if len != want {
        return Decision::No;
    }
    Decision::Yes(Start::Sslv2 {
        total: len.saturating_add(2),
    })
}

/// Scans the run `carry ++ data` for a late TLS start, considering only positions below `limit`
/// (relative to the run's first byte). Indices in the result are relative to the run too.
pub(super) fn scan(carry: &[u8], data: &[u8], client: bool, server_ok: bool, limit: usize) -> Scan {
    let mut window = [0u8; WINDOW];
    for i in 0..carry.len().min(limit) {
        // Window over the carried bytes from `i`, continued by the new data.
        let head = carry.get(i..).unwrap_or_default();
        let mut n = 0usize;
        for (slot, &b) in window
            .iter_mut()
            .zip(head.iter().chain(data.iter()).take(WINDOW))
        {
            *slot = b;
            n = n.saturating_add(1);
        }
        match decide(window.get(..n).unwrap_or_default(), client, server_ok) {
            Decision::No => {}
            Decision::NeedMore => return Scan::Pending(i),
            Decision::Yes(s) => return Scan::Found(i, s),
        }
    }
    let offset = carry.len();
    let room = limit.saturating_sub(offset).min(data.len());
    let candidate = |b: u8| b == 0x16 || (client && b & 0x80 != 0);
    let mut k = 0usize;
    while k < room {
        let Some(skip) = data
            .get(k..room)
            .and_then(|d| d.iter().position(|&b| candidate(b)))
        else {
            break;
        };
        k = k.saturating_add(skip);
        let w = data.get(k..).unwrap_or_default();
        let w = w.get(..WINDOW).unwrap_or(w);
        let at = offset.saturating_add(k);
        match decide(w, client, server_ok) {
            Decision::No => {}
            Decision::NeedMore => return Scan::Pending(at),
            Decision::Yes(s) => return Scan::Found(at, s),
        }
        k = k.saturating_add(1);
    }
    Scan::Nothing
}

impl TlsSession {
    /// A ClientHello was seen: the server's direction may start TLS late.
    fn client_hello_seen(&self) -> bool {
        !self.client_hellos.is_empty() || self.client_hello_lost
    }

    /// Whether the server may switch to TLS now (always true for the client).
    pub(super) fn late_server_ok(&self, dir: Direction) -> bool {
        dir == Direction::ToServer || self.client_hello_seen()
    }

    /// Where in `bytes` (the first bytes of a not-TLS direction at offset `start`) TLS starts, if it
    /// does: used to keep the TLS bytes out of the NotTls event's excerpt.
    pub(super) fn late_start_in(&self, dir: Direction, start: u64, bytes: &[u8]) -> Option<usize> {
        let limit =
            usize::try_from(LATE_TLS_SCAN_LIMIT.saturating_sub(start)).unwrap_or(usize::MAX);
        let client = dir == Direction::ToServer;
        match scan(&[], bytes, client, self.late_server_ok(dir), limit) {
            Scan::Found(i, _) => Some(i),
            Scan::Pending(_) | Scan::Nothing => None,
        }
    }

    /// Bytes of a direction that is not TLS: grow the excerpt, look for TLS starting late.
    pub(super) fn step_not_tls(
        &mut self,
        dir: Direction,
        data: &[u8],
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let client = dir == Direction::ToServer;
        let server_ok = self.late_server_ok(dir);
        let d = self.d(dir);
        let late = d.late;
        let carry = late.carry.get(..late.carry_len).unwrap_or_default();
        let base = d.pos.saturating_sub(carry.len() as u64);
        let limit = usize::try_from(LATE_TLS_SCAN_LIMIT.saturating_sub(base)).unwrap_or(usize::MAX);
        let result = scan(carry, data, client, server_ok, limit);
        let plain_end = match result {
            Scan::Found(i, _) | Scan::Pending(i) => i,
            Scan::Nothing => carry.len().saturating_add(data.len()),
        };
        // The bytes before `plain_end` are decided not-TLS: they go to the excerpt.
        if !late.excerpt_closed {
            let room = MAX_EXCERPT_CHARS.saturating_sub(d.excerpt_raw.len());
            let plain = carry
                .iter()
                .chain(data.iter())
                .take(plain_end.min(room))
                .copied();
            let before = d.excerpt_raw.len();
            d.excerpt_raw.extend(plain);
            if d.excerpt_raw.len() != before {
                if let Some(n) = d.not_tls.as_mut() {
                    n.excerpt = printable_excerpt(&d.excerpt_raw, MAX_EXCERPT_CHARS).0;
                }
            }
            if d.excerpt_raw.len() >= MAX_EXCERPT_CHARS {
                d.late.excerpt_closed = true;
            }
        }
        match result {
            Scan::Nothing => {
                d.late.carry_len = 0;
                if d.pos.saturating_add(data.len() as u64) >= LATE_TLS_SCAN_LIMIT
                    && d.late.excerpt_closed
                {
                    // Nothing more to learn from this direction.
                    d.mode = Mode::Stopped;
                }
                data.len()
            }
            Scan::Pending(i) => {
                // Keep the undecided tail (at most CARRY bytes: a position with WINDOW bytes is decided).
                let mut next = [0u8; CARRY];
                let mut n = 0usize;
                let tail = carry.iter().chain(data.iter()).skip(i);
                for (slot, &b) in next.iter_mut().zip(tail) {
                    *slot = b;
                    n = n.saturating_add(1);
                }
                d.late.carry = next;
                d.late.carry_len = n;
                data.len()
            }
            Scan::Found(i, start) => {
                let at = base.saturating_add(i as u64);
                d.late.carry_len = 0;
                d.stats.not_tls = false;
                d.hs.reset();
                d.hdr_len = 0;
                d.rec = None;
                d.buf.clear();
                d.mode = match start {
                    Start::Tls => Mode::Tls,
                    Start::Sslv2 { total } => Mode::Sslv2 { start: at, total },
                };
                if let Some(in_carry) = carry.get(i..).filter(|c| !c.is_empty()) {
                    // TLS starts in the carried bytes: replay them from there.
                    let replay = in_carry.to_vec();
                    let resume = d.pos;
                    d.pos = at;
                    self.process(dir, &replay, out);
                    self.d(dir).pos = resume;
                    0
                } else {
                    i.saturating_sub(carry.len())
                }
            }
        }
    }
}
