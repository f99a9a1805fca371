//! The parts of [`TlsSession`] that handle bytes that are not TLS records: sniffing a direction's
//! first bytes, SSLv2-compatible ClientHellos, HTTP header blocks and bodies, NotTls excerpts.

use crate::tcp::Direction;

use super::{be16, Mode, TlsSession};
use crate::tls::hello::parse_sslv2_client_hello;
use crate::tls::http::{
    classify, find_head_end, parse_head, printable_excerpt, Detected, DETECT_MAX, MAX_BODY_EXCERPT,
    MAX_EXCERPT_CHARS, MAX_HTTP_HEAD,
};
use crate::tls::{NotTls, TlsEvent, TlsEventKind};

impl TlsSession {
    // ----------------------------------------------------------------------------------------------
    // Sniffing
    // ----------------------------------------------------------------------------------------------

    pub(super) fn step_detect(
        &mut self,
        dir: Direction,
        data: &[u8],
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let from_client = dir == Direction::ToServer;
        let d = self.d(dir);
        let have = d.detect.len();
        let mut probe = d.detect.clone();
        probe.extend_from_slice(prefix(data, DETECT_MAX.saturating_sub(have)));
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
                d.late = Default::default();
                d.mode = Mode::NotTls;
                // The event shows what is at hand now; `not_tls()` grows to the full excerpt.
                let mut avail = saved.clone();
                avail.extend_from_slice(prefix(data, MAX_EXCERPT_CHARS));
                // TLS may start right after the plaintext (STARTTLS): keep it out of the excerpt.
                if let Some(tls_at) = self.late_start_in(dir, start, &avail) {
                    avail.truncate(tls_at);
                }
                let d = self.d(dir);
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
                self.emit(dir, start, end, TlsEventKind::NotTls(Box::new(info)), out);
            }
        }
        if !saved.is_empty() {
            // Replay the sniffed bytes through the chosen parser from where they started.
            self.d(dir).pos = start;
            self.process(dir, &saved, out);
        }
        0
    }

    pub(super) fn step_sslv2(
        &mut self,
        dir: Direction,
        data: &[u8],
        start: u64,
        total: usize,
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let d = self.d(dir);
        let take = total.saturating_sub(d.buf.len()).min(data.len());
        d.buf.extend_from_slice(prefix(data, take));
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

    pub(super) fn step_http_head(
        &mut self,
        dir: Direction,
        data: &[u8],
        start: u64,
        out: &mut Vec<TlsEvent>,
    ) -> usize {
        let d = self.d(dir);
        let old = d.buf.len();
        let take = MAX_HTTP_HEAD.saturating_sub(old).min(data.len());
        d.buf.extend_from_slice(prefix(data, take));
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
            self.http_request = Some(Box::new(req.clone()));
            let is_connect = req.method.eq_ignore_ascii_case("CONNECT");
            if is_connect {
                self.connect_request = Some(Box::new(req.clone()));
                self.connect_response = None;
                self.connect_pending = true;
            }
            self.emit(
                dir,
                start,
                end,
                TlsEventKind::HttpRequest(Box::new(req)),
                out,
            );
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
            resp.body_excerpt = crate::tls::text(rest.get(..n).unwrap_or_default()).into();
        }
        if for_connect && !(100..200).contains(&status) {
            self.connect_pending = false;
            self.connect_response = Some(Box::new(stored.clone()));
        }
        self.body_is_connect = for_connect;
        self.http_response = Some(Box::new(stored));
        let d = self.d(dir);
        d.excerpt_raw.clear();
        d.mode = mode;
        self.emit(
            dir,
            start,
            end,
            TlsEventKind::HttpResponse(Box::new(resp)),
            out,
        );
        used
    }

    pub(super) fn step_http_body(
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
            d.excerpt_raw
                .extend_from_slice(prefix(data, take.min(room)));
            let text: String = crate::tls::text(&d.excerpt_raw).into();
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
}

/// The first `n` bytes of `data` (all of it when shorter).
fn prefix(data: &[u8], n: usize) -> &[u8] {
    data.get(..n).unwrap_or(data)
}
