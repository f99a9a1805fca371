//! What evidence may keep of a TCP byte stream: a walk over one direction's reassembled bytes that
//! marks the stream offsets to keep.
//!
//! Kept: every TLS record header; the bodies of handshake (22), alert (21) and ChangeCipherSpec (20)
//! records (the ClientHello with its SNI, the ServerHello, TLS 1.2 certificates, alerts); an
//! SSLv2-format ClientHello; the request or status line and headers of an HTTP message (a proxy's
//! `CONNECT` and its answer, a deny page's status and headers). Cut: the bodies of application-data
//! (23) records, which in TLS 1.3 also carry the encrypted handshake (their lengths stay in the kept
//! headers), heartbeat records, HTTP bodies, anything that is neither TLS nor HTTP, and everything
//! after bytes that could not be framed (a gap in a header, a malformed record).
//!
//! The walk sees in-order bytes ([`StreamWalker::data`]) and holes ([`StreamWalker::gap`]); it
//! keeps sync across a hole that falls inside a record body, since the header gave the length.

/// Kept stream offsets: sorted, disjoint half-open ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeptRanges {
    ranges: Vec<(u64, u64)>,
    /// Set when [`MAX_RANGES`] was reached: later bytes are all cut.
    pub capped: bool,
}

/// Ranges kept per direction at most (a record header each, past the handshake).
pub const MAX_RANGES: usize = 1 << 20;

impl KeptRanges {
    /// Keep `[a, b)`; ranges arrive in increasing order.
    pub fn add(&mut self, a: u64, b: u64) {
        if b <= a || self.capped {
            return;
        }
        if let Some(last) = self.ranges.last_mut() {
            if a <= last.1 {
                last.1 = last.1.max(b);
                return;
            }
        }
        if self.ranges.len() >= MAX_RANGES {
            self.capped = true;
            return;
        }
        self.ranges.push((a, b));
    }

    /// Whether offset `o` is kept.
    pub fn contains(&self, o: u64) -> bool {
        let i = self.ranges.partition_point(|r| r.1 <= o);
        self.ranges.get(i).is_some_and(|r| r.0 <= o)
    }

    /// For the `len` bytes starting at `start`: which are kept.
    pub fn mask(&self, start: u64, len: usize) -> Vec<bool> {
        let mut m = vec![false; len];
        let end = start + len as u64;
        let mut i = self.ranges.partition_point(|r| r.1 <= start);
        while let Some(&(a, b)) = self.ranges.get(i) {
            if a >= end {
                break;
            }
            let from = a.max(start) - start;
            let to = b.min(end) - start;
            for k in m.iter_mut().take(to as usize).skip(from as usize) {
                *k = true;
            }
            i += 1;
        }
        m
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }
}

/// Which side's bytes a walker reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// What both directions of a connection share.
#[derive(Clone, Copy, Debug, Default)]
pub struct Shared {
    /// The client asked a proxy for a tunnel (`CONNECT`): a 2xx answer is followed by TLS.
    pub connect: bool,
}

const SNIFF_MAX: usize = 12;
const HTTP_HEAD_MAX: u64 = 64 * 1024;
const HTTP_LINE_MAX: usize = 8 * 1024;
const TLS_RECORD_MAX: u64 = (1 << 14) + 2048;

#[derive(Clone, Debug)]
enum Mode {
    /// Deciding what the bytes from `start` are.
    Sniff { start: u64, buf: Vec<u8> },
    /// TLS records: `hdr` collects a header starting at `rec_start`; then `body_left` body bytes.
    Tls {
        hdr: [u8; 5],
        have: usize,
        rec_start: u64,
        body_left: u64,
        keep_body: bool,
    },
    /// An SSLv2-format ClientHello record with `left` bytes to go.
    Sslv2 { left: u64 },
    /// An HTTP header block that began at `start`: the line being read (from `line_start`), and
    /// the first line once read. Each line is kept once it is complete and looks like HTTP.
    HttpHead {
        start: u64,
        line_start: u64,
        line: Vec<u8>,
        first_line: Option<String>,
    },
    /// Everything from here is cut.
    Cut,
}

/// The walk over one direction.
#[derive(Clone, Debug)]
pub struct StreamWalker {
    side: Side,
    pos: u64,
    mode: Mode,
    kept: KeptRanges,
}

impl StreamWalker {
    /// A walker at stream offset 0.
    pub fn new(side: Side) -> Self {
        StreamWalker {
            side,
            pos: 0,
            mode: Mode::Sniff {
                start: 0,
                buf: Vec::new(),
            },
            kept: KeptRanges::default(),
        }
    }

    /// The kept ranges so far.
    pub fn kept(&self) -> &KeptRanges {
        &self.kept
    }

    /// Finish: undecided bytes are cut. Returns the kept ranges.
    pub fn finish(mut self) -> KeptRanges {
        if let Mode::Sniff { .. } = self.mode {
            self.mode = Mode::Cut;
        }
        self.kept
    }

    /// `n` bytes never seen.
    pub fn gap(&mut self, n: u64) {
        match &mut self.mode {
            Mode::Tls {
                have, body_left, ..
            } if *have == 0 && *body_left >= n && *body_left > 0 => {
                *body_left -= n;
                if *body_left == 0 {
                    *have = 0;
                }
            }
            Mode::Cut => {}
            _ => self.mode = Mode::Cut,
        }
        self.pos += n;
    }

    /// In-order bytes.
    pub fn data(&mut self, mut d: &[u8], shared: &mut Shared) {
        while !d.is_empty() {
            let used = self.step(d, shared);
            d = &d[used..];
        }
    }

    /// Consume a prefix of `d`; returns how many bytes.
    fn step(&mut self, d: &[u8], shared: &mut Shared) -> usize {
        let pos = self.pos;
        match &mut self.mode {
            Mode::Cut => {
                self.pos += d.len() as u64;
                d.len()
            }
            Mode::Sniff { start, buf } => {
                let take = d.len().min(SNIFF_MAX - buf.len());
                buf.extend_from_slice(&d[..take]);
                self.pos += take as u64;
                let start = *start;
                match sniff(buf, self.side) {
                    Sniffed::Wait if buf.len() < SNIFF_MAX => take,
                    Sniffed::Wait | Sniffed::Other => {
                        self.mode = Mode::Cut;
                        take
                    }
                    decided => {
                        // Replay the sniffed bytes in the chosen mode.
                        let replay = std::mem::take(buf);
                        self.mode = match decided {
                            Sniffed::Tls => Mode::Tls {
                                hdr: [0; 5],
                                have: 0,
                                rec_start: start,
                                body_left: 0,
                                keep_body: false,
                            },
                            Sniffed::Sslv2(total) => {
                                self.kept.add(start, start + total);
                                Mode::Sslv2 { left: total }
                            }
                            _ => Mode::HttpHead {
                                start,
                                line_start: start,
                                line: Vec::new(),
                                first_line: None,
                            },
                        };
                        self.pos = start;
                        self.data(&replay, shared);
                        take
                    }
                }
            }
            Mode::Sslv2 { left } => {
                let n = (*left).min(d.len() as u64);
                *left -= n;
                self.pos += n;
                if *left == 0 {
                    self.mode = Mode::Tls {
                        hdr: [0; 5],
                        have: 0,
                        rec_start: self.pos,
                        body_left: 0,
                        keep_body: false,
                    };
                }
                n as usize
            }
            Mode::Tls {
                hdr,
                have,
                rec_start,
                body_left,
                keep_body,
            } => {
                if *body_left > 0 {
                    let n = (*body_left).min(d.len() as u64);
                    if *keep_body {
                        self.kept.add(pos, pos + n);
                    }
                    *body_left -= n;
                    self.pos += n;
                    return n as usize;
                }
                if *have == 0 {
                    *rec_start = pos;
                }
                let n = (5 - *have).min(d.len());
                hdr[*have..*have + n].copy_from_slice(&d[..n]);
                *have += n;
                self.pos += n as u64;
                if *have == 5 {
                    let ct = hdr[0];
                    let len = u64::from(u16::from_be_bytes([hdr[3], hdr[4]]));
                    if !(20..=24).contains(&ct) || hdr[1] != 3 || len > TLS_RECORD_MAX {
                        self.mode = Mode::Cut;
                        return n;
                    }
                    self.kept.add(*rec_start, *rec_start + 5);
                    *have = 0;
                    *body_left = len;
                    *keep_body = matches!(ct, 20..=22);
                }
                n
            }
            Mode::HttpHead {
                start,
                line_start,
                line,
                first_line,
            } => {
                let Some(nl) = d.iter().position(|&c| c == b'\n') else {
                    line.extend_from_slice(d);
                    self.pos += d.len() as u64;
                    if line.len() > HTTP_LINE_MAX {
                        self.mode = Mode::Cut;
                    }
                    return d.len();
                };
                line.extend_from_slice(&d[..nl]);
                let used = nl + 1;
                self.pos += used as u64;
                let end = self.pos;
                let text = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line));
                let text = text.into_owned();
                let ok = line.len() <= HTTP_LINE_MAX
                    && end - *start <= HTTP_HEAD_MAX
                    && match first_line {
                        None => is_request_line(&text) || is_status_line(&text),
                        // A header (`Name: value`), a folded continuation, or the blank line.
                        Some(_) => {
                            text.is_empty()
                                || text.starts_with([' ', '\t'])
                                || text.find(':').is_some_and(|i| {
                                    i > 0 && !text[..i].contains(char::is_whitespace)
                                })
                        }
                    };
                if !ok {
                    self.mode = Mode::Cut;
                    return used;
                }
                self.kept.add(*line_start, end);
                *line_start = end;
                line.clear();
                if first_line.is_none() {
                    *first_line = Some(text);
                    return used;
                }
                if !text.is_empty() {
                    return used;
                }
                // The blank line: the header block is over. A tunnel set up by CONNECT carries TLS
                // next; any other body is cut.
                let first = first_line.take().unwrap_or_default();
                let tunnel = match self.side {
                    Side::Client => {
                        let c = first.starts_with("CONNECT ");
                        shared.connect |= c;
                        c
                    }
                    Side::Server => {
                        shared.connect
                            && first
                                .split(' ')
                                .nth(1)
                                .is_some_and(|s| s.len() == 3 && s.starts_with('2'))
                    }
                };
                self.mode = if tunnel {
                    Mode::Sniff {
                        start: end,
                        buf: Vec::new(),
                    }
                } else {
                    Mode::Cut
                };
                used
            }
        }
    }
}

fn is_http_version(v: &str) -> bool {
    let b = v.as_bytes();
    v.starts_with("HTTP/")
        && (v.len() == 8 && b[5].is_ascii_digit() && b[6] == b'.' && b[7].is_ascii_digit()
            || v.len() == 6 && b[5].is_ascii_digit())
}

/// `METHOD SP target SP HTTP/x.y`.
fn is_request_line(l: &str) -> bool {
    let mut it = l.split(' ');
    let (Some(m), Some(t), Some(v), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return false;
    };
    !m.is_empty()
        && m.bytes().all(|c| c.is_ascii_uppercase() || c == b'-')
        && !t.is_empty()
        && is_http_version(v)
}

/// `HTTP/x.y SP 3DIGIT [SP reason]`.
fn is_status_line(l: &str) -> bool {
    let mut it = l.splitn(3, ' ');
    let (Some(v), Some(code)) = (it.next(), it.next()) else {
        return false;
    };
    is_http_version(v) && code.len() == 3 && code.bytes().all(|c| c.is_ascii_digit())
}

enum Sniffed {
    Wait,
    Tls,
    Sslv2(u64),
    Http,
    Other,
}

fn sniff(b: &[u8], side: Side) -> Sniffed {
    let Some(&b0) = b.first() else {
        return Sniffed::Wait;
    };
    if (20..=24).contains(&b0) {
        return match b.get(1) {
            None => Sniffed::Wait,
            Some(3) => Sniffed::Tls,
            Some(_) => Sniffed::Other,
        };
    }
    if b0 & 0x80 != 0 && side == Side::Client {
        return match (b.get(1), b.get(2)) {
            (Some(&b1), Some(&1)) => {
                Sniffed::Sslv2(u64::from(u16::from_be_bytes([b0 & 0x7f, b1])) + 2)
            }
            (_, None) => Sniffed::Wait,
            _ => Sniffed::Other,
        };
    }
    if b0.is_ascii_uppercase() {
        if b"HTTP/".starts_with(&b[..b.len().min(5)]) {
            return if b.len() >= 5 {
                Sniffed::Http
            } else {
                Sniffed::Wait
            };
        }
        // A method: uppercase letters, then a space.
        for (i, &c) in b.iter().enumerate() {
            if c == b' ' && i >= 3 {
                return Sniffed::Http;
            }
            if !c.is_ascii_uppercase() {
                return Sniffed::Other;
            }
        }
        return Sniffed::Wait;
    }
    Sniffed::Other
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn walk(side: Side, chunks: &[&[u8]]) -> KeptRanges {
        let mut w = StreamWalker::new(side);
        let mut sh = Shared::default();
        for c in chunks {
            w.data(c, &mut sh);
        }
        w.finish()
    }

    #[test]
    fn tls_keeps_handshake_and_headers_cuts_app_data() {
        let mut s = rec(22, &[1; 40]);
        s.extend(rec(20, &[1]));
        s.extend(rec(23, &[9; 30]));
        s.extend(rec(21, &[2, 40]));
        // Split everywhere to exercise the partial-header paths.
        let chunks: Vec<&[u8]> = s.chunks(3).collect();
        let k = walk(Side::Client, &chunks);
        assert_eq!(k.ranges(), &[(0, 45 + 6 + 5), (86, 93)]);
        let m = k.mask(0, s.len());
        assert!(m[..56].iter().all(|&x| x) && m[56..86].iter().all(|&x| !x));
    }

    #[test]
    fn gap_in_body_keeps_sync_gap_in_header_cuts() {
        let mut w = StreamWalker::new(Side::Server);
        let mut sh = Shared::default();
        let r = rec(23, &[9; 100]);
        w.data(&r[..20], &mut sh);
        w.gap(50);
        w.data(&r[70..], &mut sh);
        w.data(&rec(21, &[2, 40]), &mut sh);
        w.gap(3);
        w.data(&[22, 3, 3, 0, 1, 1], &mut sh);
        let k = w.finish();
        assert_eq!(k.ranges(), &[(0, 5), (105, 112)]);
    }

    #[test]
    fn http_headers_kept_body_cut_connect_tunnel_followed() {
        let mut sh = Shared::default();
        let mut c = StreamWalker::new(Side::Client);
        let req = b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n";
        c.data(req, &mut sh);
        let ch = rec(22, &[1; 10]);
        c.data(&ch, &mut sh);
        c.data(&rec(23, &[7; 10]), &mut sh);
        let kc = c.finish();
        let n = req.len() as u64;
        assert_eq!(kc.ranges(), &[(0, n + 15 + 5)]);
        let mut s = StreamWalker::new(Side::Server);
        let resp = b"HTTP/1.1 200 Connection established\r\n\r\n";
        s.data(resp, &mut sh);
        s.data(&rec(22, &[1; 10]), &mut sh);
        assert_eq!(s.finish().ranges(), &[(0, resp.len() as u64 + 15)]);

        let mut sh = Shared::default();
        let mut d = StreamWalker::new(Side::Server);
        let page = b"HTTP/1.1 470 status code 470\r\nContent-Length: 5\r\n\r\n<b>x</b>";
        d.data(page, &mut sh);
        assert_eq!(d.finish().ranges(), &[(0, page.len() as u64 - 8)]);
    }

    #[test]
    fn only_real_http_lines_are_kept() {
        // SMTP looks like a method at first sight; its lines are not HTTP.
        assert!(walk(Side::Client, &[b"EHLO mail.example\r\nSTARTTLS\r\n"])
            .ranges()
            .is_empty());
        assert!(walk(Side::Server, &[b"HTTP/1.1 OK\r\n\r\n"])
            .ranges()
            .is_empty());
        // A header block cut where a line stops looking like a header.
        let r = walk(
            Side::Server,
            &[
                b"HTTP/1.1 403 Forbidden\r\nServer: x\r\n",
                b"not a header\r\n\r\n",
            ],
        );
        assert_eq!(r.ranges(), &[(0, 35)]);
        // Lines split across segments.
        let r = walk(
            Side::Client,
            &[b"GET / HT", b"TP/1.1\r\nHo", b"st: a\r\n\r\nbody"],
        );
        assert_eq!(r.ranges(), &[(0, 27)]);
    }

    #[test]
    fn other_payload_is_cut() {
        assert!(walk(Side::Server, &[b"<html>hello</html>"])
            .ranges()
            .is_empty());
        assert!(walk(Side::Server, &[b"SSH-2.0-OpenSSH"])
            .ranges()
            .is_empty());
        assert!(walk(Side::Client, &[&[0x17]]).ranges().is_empty());
        // A 2xx answer without a CONNECT is an ordinary response: its body is cut.
        let r = walk(
            Side::Server,
            &[b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x03\x00\x01\x01"],
        );
        assert_eq!(r.ranges(), &[(0, 19)]);
    }
}
