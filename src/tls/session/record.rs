//! The parts of [`TlsSession`] that handle TLS records: framing, encryption state, completion,
//! alerts, handshake messages, and gaps inside records.

use std::sync::Arc;

use crate::tcp::Direction;

use super::{
    be16, Body, Mode, Record, TlsSession, ALERT_SIZED_MAX, MAX_CLIENT_HELLOS, MAX_RECORD_LEN,
};
use crate::tls::cert::parse_certificate_message;
use crate::tls::handshake::{HsMessage, Step};
use crate::tls::hello::{parse_client_hello, parse_server_hello};
use crate::tls::names::is_tls13_version;
use crate::tls::{Alert, CertInfo, ClientHello, TlsEvent, TlsEventKind};

impl TlsSession {
    // ----------------------------------------------------------------------------------------------
    // TLS records
    // ----------------------------------------------------------------------------------------------

    /// TLS 1.3 was negotiated (or, before a ServerHello, is what this direction is doing).
    pub(super) fn tls13_for(&self, dir: Direction) -> bool {
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

    pub(super) fn tls13_negotiated(&self) -> bool {
        self.server_hello
            .as_ref()
            .is_some_and(|sh| is_tls13_version(sh.version()))
    }

    pub(super) fn is_encrypted(&self, dir: Direction, ctype: u8) -> bool {
        ctype == 23 || (!self.tls13_for(dir) && self.dr(dir).ccs)
    }

    pub(super) fn step_tls(
        &mut self,
        dir: Direction,
        data: &[u8],
        out: &mut Vec<TlsEvent>,
    ) -> usize {
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

    pub(super) fn finish_record(&mut self, dir: Direction) {
        let d = self.d(dir);
        if let Some(r) = d.rec.take() {
            d.stats.last_record = Some((r.start, r.ctype, r.len));
            d.stats.current_record = None;
        }
    }

    pub(super) fn on_record_header(
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
        // After a gap broke the framing, whether a ChangeCipherSpec was lost is unknown: an alert
        // record longer than one plaintext alert (2 bytes) is an encrypted one.
        let encrypted =
            self.is_encrypted(dir, ctype) || (ctype == 21 && len != 2 && self.dr(dir).lost_sync);
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

    pub(super) fn on_encrypted_record(
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
        } else if ctype == 23
            && dir == Direction::ToServer
            && (self.client.finished || self.server.finished)
            && (self.client.lost_sync || self.server.lost_sync)
        {
            // TLS 1.2 (a Finished came in a handshake record after a ChangeCipherSpec, which TLS
            // 1.3 never sends), and a gap in the capture hid the other Finished: a TLS 1.2 client
            // sends application data once it has checked the server's Finished, so the handshake
            // completed.
            self.complete = true;
        }
    }

    pub(super) fn alert_bytes(
        &mut self,
        dir: Direction,
        rec: &Record,
        chunk: &[u8],
        out: &mut Vec<TlsEvent>,
    ) {
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

    pub(super) fn handshake_bytes(
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
                Some(Step::TooLong {
                    typ,
                    len,
                    start,
                    limit,
                }) => {
                    let d = self.d(dir);
                    d.stats.oversized_messages = d.stats.oversized_messages.saturating_add(1);
                    let why =
                        format!("handshake message type {typ} claims {len} bytes (limit {limit})");
                    let end = base.saturating_add(off as u64);
                    self.malformed(dir, start, end, why, out);
                }
            }
        }
    }

    pub(super) fn gap_tls(
        &mut self,
        dir: Direction,
        len: u64,
        start: u64,
        end: u64,
        out: &mut Vec<TlsEvent>,
    ) {
        let d = self.d(dir);
        let Some(rec) = d.rec else {
            // The gap covers (part of) a record header: framing is lost.
            return self.lose_framing(dir, start, end, out);
        };
        if len > rec.remaining as u64 {
            return self.lose_framing(dir, start, end, out);
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

    pub(super) fn on_client_hello(
        &mut self,
        dir: Direction,
        start: u64,
        end: u64,
        ch: ClientHello,
        out: &mut Vec<TlsEvent>,
    ) {
        let ch = Arc::new(ch);
        if self.client_hellos.len() < MAX_CLIENT_HELLOS {
            self.client_hellos.push(Arc::clone(&ch));
        }
        self.emit(dir, start, end, TlsEventKind::ClientHello(ch), out);
    }

    pub(super) fn on_message(&mut self, dir: Direction, msg: HsMessage, out: &mut Vec<TlsEvent>) {
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
                    let sh = Arc::new(sh);
                    let slot = if sh.hello_retry_request {
                        &mut self.hello_retry
                    } else {
                        &mut self.server_hello
                    };
                    if slot.is_none() {
                        *slot = Some(Arc::clone(&sh));
                    }
                    self.emit(dir, start, end, TlsEventKind::ServerHello(sh), out);
                }
                Err(e) => self.malformed(dir, start, end, e, out),
            },
            (11, Some(b)) => match parse_certificate_message(&b) {
                Ok(certs) => {
                    let certs: Arc<[CertInfo]> = certs.into();
                    if !to_server && !self.have_certificates {
                        self.have_certificates = true;
                        self.certificates = Arc::clone(&certs);
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
