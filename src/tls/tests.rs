//! Tests of the tls module on real handshakes (fixtures from `tests/data/tls/make.sh`), synthetic
//! inputs, and property tests (segmentation invariance, record re-chunking, arbitrary bytes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::arithmetic_side_effects
)]

use proptest::prelude::*;

use super::names::{alert_name, is_tls13_suite};
use super::*;
use crate::tcp::Direction::{self, ToClient, ToServer};

const TLS13_OK: &[u8] = include_bytes!("../../tests/data/tls/tls13_ok.bin");
const TLS12_CHAIN: &[u8] = include_bytes!("../../tests/data/tls/tls12_chain.bin");
const TLS12_HANDSHAKE_FAILURE: &[u8] =
    include_bytes!("../../tests/data/tls/tls12_handshake_failure.bin");
const TLS13_PROTOCOL_VERSION: &[u8] =
    include_bytes!("../../tests/data/tls/tls13_protocol_version.bin");
const TLS13_HRR: &[u8] = include_bytes!("../../tests/data/tls/tls13_hrr.bin");
const TLS12_UNKNOWN_CA: &[u8] = include_bytes!("../../tests/data/tls/tls12_unknown_ca.bin");
const TLS12_RESUMED: &[u8] = include_bytes!("../../tests/data/tls/tls12_resumed.bin");
const GNUTLS_TLS13: &[u8] = include_bytes!("../../tests/data/tls/gnutls_tls13.bin");
const GNUTLS_TLS12: &[u8] = include_bytes!("../../tests/data/tls/gnutls_tls12.bin");

const FIXTURES: [&[u8]; 9] = [
    GNUTLS_TLS13,
    GNUTLS_TLS12,
    TLS13_OK,
    TLS12_CHAIN,
    TLS12_HANDSHAKE_FAILURE,
    TLS13_PROTOCOL_VERSION,
    TLS13_HRR,
    TLS12_UNKNOWN_CA,
    TLS12_RESUMED,
];

/// Memory the parse buffers may hold, whatever the input (see the session module docs).
const BUFFER_BOUND: usize = 2 * (MAX_HANDSHAKE_MESSAGE + 4 + 32 * 1024 + 2 + 8192 + 2048 + 64);

type Segs = Vec<(Direction, Vec<u8>)>;

/// Decodes the fixture format: direction byte, u32 BE length, payload.
fn segments(bin: &[u8]) -> Segs {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bin.len() {
        let dir = if bin[i] == 0 { ToServer } else { ToClient };
        let len = u32::from_be_bytes(bin[i + 1..i + 5].try_into().unwrap()) as usize;
        out.push((dir, bin[i + 5..i + 5 + len].to_vec()));
        i += 5 + len;
    }
    out
}

fn run(segs: &[(Direction, Vec<u8>)]) -> (TlsSession, Vec<TlsEvent>) {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    for (dir, data) in segs {
        s.feed(*dir, data, &mut ev);
    }
    (s, ev)
}

fn kinds(ev: &[TlsEvent], dir: Direction) -> Vec<&TlsEventKind> {
    ev.iter()
        .filter(|e| e.dir == dir)
        .map(|e| &e.kind)
        .collect()
}

fn alerts(ev: &[TlsEvent], dir: Direction) -> Vec<Alert> {
    ev.iter()
        .filter(|e| e.dir == dir)
        .filter_map(|e| match e.kind {
            TlsEventKind::Alert(a) => Some(a),
            _ => None,
        })
        .collect()
}

/// Records of a segment that holds whole records: (offset in segment, content type, length).
fn records_of(seg: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 5 <= seg.len() {
        let len = usize::from(u16::from_be_bytes([seg[i + 3], seg[i + 4]]));
        out.push((i, seg[i], len));
        i += 5 + len;
    }
    assert_eq!(i, seg.len(), "fixture segment does not hold whole records");
    out
}

fn is_encrypted_record(k: &TlsEventKind, ct: u8) -> bool {
    matches!(k, TlsEventKind::EncryptedRecord { content_type, .. } if *content_type == ct)
}

// ------------------------------------------------------------------------------------------------
// Real handshakes
// ------------------------------------------------------------------------------------------------

#[test]
fn tls13_ok() {
    let (s, ev) = run(&segments(TLS13_OK));
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert!(s.is_tls() && s.is_complete());
    assert_eq!(s.version(), Some(0x0304));

    let ch = s.client_hello().unwrap();
    assert_eq!(ch.sni.as_deref(), Some("tls.example.test"));
    assert!(ch.supported_versions.contains(&0x0304));
    assert_eq!((ch.record_version, ch.legacy_version), (0x0301, 0x0303));
    assert_eq!(ch.records, 1);
    assert!(ch.key_shares.contains(&(29, 32)), "{:?}", ch.key_shares);
    assert!(ch.cipher_suites.contains(&0x1301) && ch.cipher_suites.contains(&0x00ff));
    assert!(ch.groups.contains(&29) && ch.extensions.contains(&0));
    assert!(!ch.signature_algorithms.is_empty() && !ch.sslv2_format && !ch.ech);
    assert_eq!(ch.session_id_len, 32);
    assert_eq!(s.client_hellos().len(), 1);

    let sh = s.server_hello().unwrap();
    assert_eq!(sh.version(), 0x0304);
    assert_eq!(sh.legacy_version, 0x0303);
    assert!(is_tls13_suite(sh.cipher_suite));
    assert_eq!(sh.key_share_group, Some(29));
    assert!(!sh.hello_retry_request && !sh.downgrade_sentinel);
    assert!(s.hello_retry().is_none());
    assert!(s.certificates().is_empty());

    // Client: ClientHello (message bytes 5..250 of record 0..250), dummy CCS, Finished (encrypted, not alert-sized), then app data.
    let c = kinds(&ev, ToServer);
    assert!(matches!(c[0], TlsEventKind::ClientHello(_)));
    assert_eq!((ev[0].start, ev[0].end), (5, 250));
    assert_eq!(c[1], &TlsEventKind::ChangeCipherSpec);
    assert!(is_encrypted_record(c[2], 23));
    assert!(matches!(
        c[3],
        TlsEventKind::FirstApplicationData { len: 23 }
    ));
    assert_eq!(c.len(), 4);

    // Server: ServerHello, CCS, 4 encrypted handshake records, then the first NewSessionTicket
    // record counts as its first application data.
    let sv = kinds(&ev, ToClient);
    assert!(matches!(sv[0], TlsEventKind::ServerHello(_)));
    assert_eq!(sv[1], &TlsEventKind::ChangeCipherSpec);
    assert!(sv[2..6].iter().all(|k| is_encrypted_record(k, 23)));
    assert!(matches!(sv[6], TlsEventKind::FirstApplicationData { .. }));
    assert_eq!(sv.len(), 7);

    let st = s.stats(ToClient);
    assert_eq!(st.records, 10);
    assert_eq!(st.app_data_records, 8);
    assert_eq!(st.last_record.map(|r| (r.1, r.2)), Some((23, 19)));
    assert_eq!(st.current_record, None);
    assert!(!st.not_tls);
    let total: usize = segments(TLS13_OK)
        .iter()
        .filter(|(d, _)| *d == ToClient)
        .map(|(_, b)| b.len())
        .sum();
    assert_eq!(st.bytes, total as u64);
}

#[test]
fn tls12_chain() {
    let (s, ev) = run(&segments(TLS12_CHAIN));
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert_eq!(s.version(), Some(0x0303));
    let sh = s.server_hello().unwrap();
    assert_eq!(sh.supported_version, None);
    assert!(names::is_forward_secret_suite(sh.cipher_suite));
    assert!(names::is_aead_suite(sh.cipher_suite));

    let certs = s.certificates();
    assert_eq!(certs.len(), 2);
    let leaf = &certs[0];
    assert_eq!(leaf.subject, "CN=tls.example.test,O=tlsautopsy");
    assert_eq!(leaf.issuer, "CN=Autopsy Test Intermediate,O=tlsautopsy");
    assert_eq!(leaf.subject_cn.as_deref(), Some("tls.example.test"));
    assert_eq!(leaf.issuer_cn.as_deref(), Some("Autopsy Test Intermediate"));
    assert_eq!(leaf.san, vec!["tls.example.test", "127.0.0.1"]);
    assert!(!leaf.self_issued && leaf.parse_error.is_none());
    assert!(leaf.not_after > leaf.not_before && leaf.not_before > 1_600_000_000);
    assert!(leaf.der_len > 300);
    assert_eq!(
        certs[1].subject,
        "CN=Autopsy Test Intermediate,O=tlsautopsy"
    );
    assert_eq!(certs[1].issuer, "CN=Autopsy Test Root,O=tlsautopsy");

    let sv = kinds(&ev, ToClient);
    assert!(matches!(sv[0], TlsEventKind::ServerHello(_)));
    assert!(matches!(sv[1], TlsEventKind::Certificate(c) if c.len() == 2));
    assert_eq!(sv[2], &TlsEventKind::Handshake(12));
    assert_eq!(sv[3], &TlsEventKind::Handshake(14));
    assert_eq!(sv[4], &TlsEventKind::Handshake(4));
    assert_eq!(sv[5], &TlsEventKind::ChangeCipherSpec);
    assert!(is_encrypted_record(sv[6], 22));
    assert!(matches!(
        sv[7],
        TlsEventKind::FirstApplicationData { len: 30 }
    ));
    assert_eq!(sv.len(), 8, "{sv:?}");

    let c = kinds(&ev, ToServer);
    assert!(matches!(c[0], TlsEventKind::ClientHello(_)));
    assert_eq!(c[1], &TlsEventKind::Handshake(16));
    assert_eq!(c[2], &TlsEventKind::ChangeCipherSpec);
    assert!(is_encrypted_record(c[3], 22));
    assert!(matches!(
        c[4],
        TlsEventKind::FirstApplicationData { len: 30 }
    ));
    assert_eq!(c.len(), 5, "{c:?}");
    // The close_notify is encrypted: no event after completion, but it is the last record.
    assert_eq!(s.stats(ToServer).last_record.map(|r| r.1), Some(21));
}

#[test]
fn gnutls_client() {
    for (fx, version) in [(GNUTLS_TLS13, 0x0304), (GNUTLS_TLS12, 0x0303)] {
        let (s, ev) = run(&segments(fx));
        assert_eq!(s.progress(), HandshakeProgress::Complete);
        assert_eq!(s.version(), Some(version));
        let ch = s.client_hello().unwrap();
        assert_eq!(ch.sni.as_deref(), Some("tls.example.test"));
        assert!(ch.supported_versions.contains(&0x0304) == (version == 0x0304));
        let first_app = |d| {
            ev.iter()
                .filter(|e| e.dir == d)
                .filter(|e| matches!(e.kind, TlsEventKind::FirstApplicationData { .. }))
                .count()
        };
        assert_eq!((first_app(ToServer), first_app(ToClient)), (1, 1));
        assert_eq!(
            s.certificates().len(),
            if version == 0x0303 { 2 } else { 0 }
        );
    }
}

#[test]
fn tls12_resumed_is_complete() {
    let (s, ev) = run(&segments(TLS12_RESUMED));
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert!(s.certificates().is_empty());
    let sv = kinds(&ev, ToClient);
    assert!(matches!(sv[0], TlsEventKind::ServerHello(_)));
    assert_eq!(sv[1], &TlsEventKind::ChangeCipherSpec);
    assert!(is_encrypted_record(sv[2], 22));
}

#[test]
fn tls12_handshake_failure() {
    let (s, ev) = run(&segments(TLS12_HANDSHAKE_FAILURE));
    assert_eq!(s.progress(), HandshakeProgress::ClientHello);
    let ch = s.client_hello().unwrap();
    assert!(ch.cipher_suites.contains(&0xc009)); // ECDHE-ECDSA-AES128-SHA
    assert_eq!(
        alerts(&ev, ToClient),
        vec![Alert {
            level: 2,
            description: 40
        }]
    );
    assert_eq!(alert_name(40), Some("handshake_failure"));
    let e = ev.iter().find(|e| e.dir == ToClient).unwrap();
    assert_eq!((e.start, e.end), (0, 7));
    assert_eq!(s.stats(ToClient).last_record, Some((0, 21, 2)));
}

#[test]
fn tls13_protocol_version() {
    let (s, ev) = run(&segments(TLS13_PROTOCOL_VERSION));
    assert_eq!(s.progress(), HandshakeProgress::ClientHello);
    let ch = s.client_hello().unwrap();
    assert!(ch.supported_versions.is_empty());
    assert_eq!(ch.max_version(), 0x0303);
    let a = alerts(&ev, ToClient);
    assert_eq!(a.len(), 1);
    assert_eq!(alert_name(a[0].description), Some("protocol_version"));
}

#[test]
fn tls13_hello_retry() {
    let (s, ev) = run(&segments(TLS13_HRR));
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    let hrr = s.hello_retry().unwrap();
    assert!(hrr.hello_retry_request);
    assert_eq!(hrr.key_share_group, Some(24)); // secp384r1
    assert_eq!(hrr.supported_version, Some(0x0304));
    let sh = s.server_hello().unwrap();
    assert!(!sh.hello_retry_request);
    assert_eq!(sh.key_share_group, Some(24));
    let chs = s.client_hellos();
    assert_eq!(chs.len(), 2);
    assert!(chs[0].key_shares.iter().all(|&(g, _)| g == 29));
    assert_eq!(chs[1].key_shares, vec![(24, 97)]);
    assert_eq!(chs[1].sni.as_deref(), Some("tls.example.test"));
    let c = kinds(&ev, ToServer);
    assert!(matches!(c[0], TlsEventKind::ClientHello(_)));
    assert_eq!(c[1], &TlsEventKind::ChangeCipherSpec);
    assert!(matches!(c[2], TlsEventKind::ClientHello(_)));
    let sv = kinds(&ev, ToClient);
    assert!(matches!(sv[0], TlsEventKind::ServerHello(h) if h.hello_retry_request));
    assert_eq!(sv[1], &TlsEventKind::ChangeCipherSpec);
    assert!(matches!(sv[2], TlsEventKind::ServerHello(h) if !h.hello_retry_request));
}

#[test]
fn progress_after_hrr_only() {
    let segs = segments(TLS13_HRR);
    let (s, _) = run(&segs[..2]);
    assert_eq!(s.progress(), HandshakeProgress::HelloRetry);
    assert_eq!(s.version(), Some(0x0304));
}

#[test]
fn tls12_client_unknown_ca() {
    let (s, ev) = run(&segments(TLS12_UNKNOWN_CA));
    assert_eq!(s.progress(), HandshakeProgress::ServerHello);
    assert_eq!(s.certificates().len(), 2);
    let a = alerts(&ev, ToServer);
    assert_eq!(
        a,
        vec![Alert {
            level: 2,
            description: 48
        }]
    );
    assert_eq!(alert_name(48), Some("unknown_ca"));
}

#[test]
fn tls13_client_alert_is_not_completion() {
    // Replace the client's CCS + Finished with CCS + a 19-byte encrypted record (an alert).
    let mut segs = segments(TLS13_OK);
    let i = segs
        .iter()
        .position(|(d, b)| *d == ToServer && b[0] == 20)
        .unwrap();
    let mut alert = vec![20, 3, 3, 0, 1, 1, 23, 3, 3, 0, 19];
    alert.extend([0u8; 19]);
    segs[i].1 = alert;
    segs.truncate(i + 1);
    let (s, ev) = run(&segs);
    assert_eq!(s.progress(), HandshakeProgress::ServerHello);
    assert!(matches!(
        kinds(&ev, ToServer).last(),
        Some(TlsEventKind::EncryptedRecord {
            content_type: 23,
            len: 19
        })
    ));
}

// ------------------------------------------------------------------------------------------------
// Gaps
// ------------------------------------------------------------------------------------------------

/// Feeds `segs`, replacing bytes `from..to` of segment `seg` by a gap.
fn run_with_gap(segs: &Segs, seg: usize, from: usize, to: usize) -> (TlsSession, Vec<TlsEvent>) {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    for (i, (dir, data)) in segs.iter().enumerate() {
        if i == seg {
            s.feed(*dir, &data[..from], &mut ev);
            s.gap(*dir, (to - from) as u64, &mut ev);
            s.feed(*dir, &data[to..], &mut ev);
        } else {
            s.feed(*dir, data, &mut ev);
        }
    }
    (s, ev)
}

#[test]
fn gap_inside_encrypted_record_keeps_sync() {
    let segs = segments(TLS13_OK);
    // Server flight: find the big encrypted record (the certificate).
    let (seg, recs) = segs
        .iter()
        .enumerate()
        .find(|(_, (d, _))| *d == ToClient)
        .map(|(i, (_, b))| (i, records_of(b)))
        .unwrap();
    let big = recs.iter().find(|r| r.2 > 500).unwrap();
    let (s, ev) = run_with_gap(&segs, seg, big.0 + 100, big.0 + 300);
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert!(!ev.iter().any(|e| e.kind == TlsEventKind::LostSync));
    assert_eq!(s.stats(ToClient).gap_bytes, 200);
    let (_, full) = run(&segs);
    assert_eq!(ev, full);
}

#[test]
fn gap_across_records_loses_sync_once() {
    let segs = segments(TLS13_OK);
    let seg = segs.iter().position(|(d, _)| *d == ToClient).unwrap();
    let recs = records_of(&segs[seg].1);
    // From inside the ServerHello record into the middle of the next one.
    let (s, ev) = run_with_gap(&segs, seg, recs[0].0 + 50, recs[2].0 + 2);
    let lost: Vec<_> = ev
        .iter()
        .filter(|e| e.kind == TlsEventKind::LostSync)
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0].dir, ToClient);
    assert_eq!(lost[0].start, recs[0].0 as u64 + 50);
    // The rest of that segment starts inside a record and is passed over; the server's later
    // segments start with record headers, and their records are read again (encrypted: the
    // handshake messages in them are not decoded).
    let sv = kinds(&ev, ToClient);
    assert_eq!(sv[0], &TlsEventKind::LostSync);
    assert!(sv.len() > 1, "{sv:?}");
    assert!(sv[1..]
        .iter()
        .all(|k| matches!(k, TlsEventKind::EncryptedRecord { .. })));
    // The ServerHello, and with it the version, was lost: completion is not claimed.
    assert_ne!(s.progress(), HandshakeProgress::Complete);
    assert!(s.server_hello().is_none());
}

/// A gap that ends where a captured segment begins with a record header (a snaplen cuts every
/// segment): framing resumes there; one that ends inside a record, or on bytes that only look like
/// part of a header, does not resume framing until a segment that starts with one.
#[test]
fn framing_resumes_at_a_record_header_after_a_gap() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    // Server: a record header claims 100 bytes, 10 arrive, then the capture cut the rest.
    s.feed(ToClient, &[22, 3, 3, 0, 100, 2, 0, 0, 96, 3], &mut ev);
    s.gap(ToClient, 200, &mut ev);
    // A segment starting inside a record: passed over.
    s.feed(ToClient, &[0x55; 40], &mut ev);
    s.gap(ToClient, 10, &mut ev);
    // Bytes that start like a header but claim no length (0) or too much: not a header.
    s.feed(ToClient, &[23, 3, 3, 0, 0, 1, 2], &mut ev);
    s.gap(ToClient, 10, &mut ev);
    s.feed(ToClient, &[23, 3, 3, 0xff, 0xff, 1, 2], &mut ev);
    s.gap(ToClient, 10, &mut ev);
    // A segment starting with an application-data record: framing resumes.
    s.feed(ToClient, &[23, 3, 3, 0, 30], &mut ev);
    s.feed(ToClient, &[0xaa; 30], &mut ev);
    s.feed(ToClient, &[21, 3, 3, 0, 26], &mut ev);
    s.feed(ToClient, &[0xbb; 26], &mut ev);
    let sv = kinds(&ev, ToClient);
    assert_eq!(
        sv.iter().filter(|k| ***k == TlsEventKind::LostSync).count(),
        1
    );
    let records: Vec<_> = ev
        .iter()
        .filter_map(|e| match e.kind {
            TlsEventKind::EncryptedRecord { content_type, len } => Some((content_type, len)),
            _ => None,
        })
        .collect();
    // The alert after the gap is 26 bytes, not a 2-byte plaintext alert: an encrypted one (a
    // ChangeCipherSpec may have been lost in the gap).
    assert_eq!(records, vec![(23, 30), (21, 26)]);
    assert!(!ev.iter().any(|e| matches!(e.kind, TlsEventKind::Alert(_))));
}

#[test]
fn gap_inside_certificate_message() {
    let segs = segments(TLS12_CHAIN);
    let seg = segs.iter().position(|(d, _)| *d == ToClient).unwrap();
    let recs = records_of(&segs[seg].1);
    let cert = recs
        .iter()
        .find(|r| r.1 == 22 && segs[seg].1[r.0 + 5] == 11)
        .unwrap();
    let (s, ev) = run_with_gap(&segs, seg, cert.0 + 200, cert.0 + 400);
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert!(s.certificates().is_empty());
    let sv = kinds(&ev, ToClient);
    assert_eq!(sv[1], &TlsEventKind::Handshake(11));
    assert_eq!(sv[2], &TlsEventKind::Handshake(12));
    assert!(!ev.iter().any(|e| e.kind == TlsEventKind::LostSync));
}

#[test]
fn gap_breaking_handshake_framing_keeps_records() {
    // Server flight of TLS 1.2 as one record, with a gap from the Certificate into the
    // ServerKeyExchange header: handshake decoding stops, record framing goes on.
    let segs = segments(TLS12_CHAIN);
    let seg = segs.iter().position(|(d, _)| *d == ToClient).unwrap();
    let merged = merge_handshake_records(&segs[seg].1);
    let mut segs2 = segs.clone();
    segs2[seg].1 = merged.clone();
    let recs = records_of(&merged);
    assert_eq!(recs.len(), 1);
    let body = &merged[5..];
    let sh_len = 4 + usize::from(body[3]);
    let cert_len = 4 + (usize::from(body[sh_len + 2]) << 8 | usize::from(body[sh_len + 3]));
    let ske_at = 5 + sh_len + cert_len;
    let (s, ev) = run_with_gap(&segs2, seg, ske_at - 10, ske_at + 2);
    let sv = kinds(&ev, ToClient);
    assert!(matches!(sv[0], TlsEventKind::ServerHello(_)));
    assert_eq!(sv[1], &TlsEventKind::LostSync);
    // The server's later CCS + Finished and app data are still seen: the handshake completes.
    assert_eq!(s.progress(), HandshakeProgress::Complete);
}

#[test]
fn gap_at_start_loses_sync() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.gap(ToServer, 10, &mut ev);
    s.feed(ToServer, &segments(TLS13_OK)[0].1, &mut ev);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, TlsEventKind::LostSync);
    assert_eq!((ev[0].start, ev[0].end), (0, 10));
    assert_eq!(s.progress(), HandshakeProgress::None);
}

// ------------------------------------------------------------------------------------------------
// Synthetic TLS
// ------------------------------------------------------------------------------------------------

/// One handshake record holding all the handshake records' payloads of `seg` that precede
/// the first non-handshake record (other records kept as they are).
fn merge_handshake_records(seg: &[u8]) -> Vec<u8> {
    let recs = records_of(seg);
    let mut payload = Vec::new();
    let mut rest = Vec::new();
    let mut in_run = true;
    for &(at, ct, len) in &recs {
        if in_run && ct == 22 {
            payload.extend_from_slice(&seg[at + 5..at + 5 + len]);
        } else {
            in_run = false;
            rest.extend_from_slice(&seg[at..at + 5 + len]);
        }
    }
    let mut out = vec![22, seg[1], seg[2]];
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend(payload);
    out.extend(rest);
    out
}

#[test]
fn sslv2_client_hello() {
    let mut body = vec![1, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10];
    body.extend([0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x01, 0x00, 0x80]);
    body.extend([0xaa; 16]);
    let mut rec = vec![0x80, body.len() as u8];
    rec.extend(&body);
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    for b in &rec {
        s.feed(ToServer, std::slice::from_ref(b), &mut ev);
    }
    assert_eq!(ev.len(), 1);
    assert_eq!((ev[0].start, ev[0].end), (0, rec.len() as u64));
    let ch = s.client_hello().unwrap();
    assert!(ch.sslv2_format);
    assert_eq!(ch.legacy_version, 0x0301);
    assert_eq!(ch.cipher_suites, vec![0x002f, 0x0035]);
    assert_eq!(ch.message_len, body.len());
    assert_eq!(s.progress(), HandshakeProgress::ClientHello);
    assert_eq!(
        s.stats(ToServer).last_record,
        Some((0, 0x80, body.len() as u16))
    );
}

fn server_hello_msg(random: [u8; 32], exts: &[u8]) -> Vec<u8> {
    let mut body = vec![0x03, 0x03];
    body.extend(random);
    body.extend([0, 0xc0, 0x2f, 0]);
    body.extend((exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut msg = vec![2, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend(body);
    msg
}

fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
    let mut r = vec![ct, 3, 3];
    r.extend((payload.len() as u16).to_be_bytes());
    r.extend(payload);
    r
}

#[test]
fn downgrade_sentinel_and_alpn() {
    let mut random = [7u8; 32];
    random[24..].copy_from_slice(b"DOWNGRD\x01");
    // ALPN "h2", renegotiation_info.
    let exts = [0, 16, 0, 5, 0, 3, 2, b'h', b'2', 0xff, 0x01, 0, 1, 0];
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(
        ToClient,
        &record(22, &server_hello_msg(random, &exts)),
        &mut ev,
    );
    let sh = s.server_hello().unwrap();
    assert!(sh.downgrade_sentinel);
    assert_eq!(sh.alpn.as_deref(), Some("h2"));
    assert_eq!(sh.extensions, vec![16, 0xff01]);
    assert_eq!(sh.cipher_suite, 0xc02f);
    assert_eq!(s.progress(), HandshakeProgress::ServerHello);
}

#[test]
fn huge_handshake_claim_is_malformed_without_allocating() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    let mut data = vec![22, 3, 1, 0x40, 0x00, 1, 0xff, 0xff, 0xff];
    data.extend(vec![0u8; 16380]);
    s.feed(ToServer, &data[..9], &mut ev);
    assert!(s.buffered_bytes() < 1024, "{}", s.buffered_bytes());
    s.feed(ToServer, &data[9..], &mut ev);
    assert_eq!(ev.len(), 1);
    assert!(matches!(&ev[0].kind, TlsEventKind::Malformed(m) if m.contains("16777215")));
    assert_eq!(ev[0].start, 5);
    assert!(s.buffered_bytes() < 1024);
    // The direction is no longer parsed.
    s.feed(ToServer, &record(21, &[2, 40]), &mut ev);
    assert_eq!(ev.len(), 1);
}

#[test]
fn oversized_record_and_bad_header_are_malformed() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToClient, &[23, 3, 3, 0x48, 0x01], &mut ev);
    assert!(matches!(&ev[0].kind, TlsEventKind::Malformed(m) if m.contains("18433")));
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToClient, &record(21, &[2, 40]), &mut ev);
    s.feed(ToClient, &[0x99, 3, 3, 0, 1, 0], &mut ev);
    assert_eq!(ev.len(), 2);
    assert!(matches!(&ev[1].kind, TlsEventKind::Malformed(m) if m.contains("not a TLS record")));
    assert_eq!((ev[1].start, ev[1].end), (7, 12));
}

#[test]
fn unparsable_certificate_is_reported_not_fatal() {
    // Certificate message with two entries: garbage, then the real leaf of the TLS 1.2 fixture.
    let segs = segments(TLS12_CHAIN);
    let seg = &segs.iter().find(|(d, _)| *d == ToClient).unwrap().1;
    let cert_rec = records_of(seg)
        .into_iter()
        .find(|r| seg[r.0 + 5] == 11)
        .unwrap();
    let body = &seg[cert_rec.0 + 5 + 4..cert_rec.0 + 5 + cert_rec.2];
    let leaf_len = usize::from(body[3]) << 16 | usize::from(body[4]) << 8 | usize::from(body[5]);
    let leaf = &body[6..6 + leaf_len];
    let garbage = [0x30u8, 0x03, 0x02, 0x01, 0x05];
    let mut list: Vec<u8> = Vec::new();
    for c in [&garbage[..], leaf] {
        list.extend(&(c.len() as u32).to_be_bytes()[1..]);
        list.extend(c);
    }
    let mut msg = vec![11];
    msg.extend(&((list.len() + 3) as u32).to_be_bytes()[1..]);
    msg.extend(&(list.len() as u32).to_be_bytes()[1..]);
    msg.extend(list);
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToClient, &record(22, &msg), &mut ev);
    let certs = s.certificates();
    assert_eq!(certs.len(), 2);
    assert!(certs[0].parse_error.is_some() && certs[0].subject.is_empty());
    assert_eq!(certs[0].der_len, 5);
    assert_eq!(certs[1].subject_cn.as_deref(), Some("tls.example.test"));
    assert!(matches!(&ev[0].kind, TlsEventKind::Certificate(c) if c.len() == 2));
}

#[test]
fn several_alerts_in_one_record() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToClient, &record(21, &[1, 112, 2, 40]), &mut ev);
    assert_eq!(
        alerts(&ev, ToClient),
        vec![
            Alert {
                level: 1,
                description: 112
            },
            Alert {
                level: 2,
                description: 40
            }
        ]
    );
    assert!(ev.iter().all(|e| (e.start, e.end) == (0, 9)));
}

#[test]
fn gigabyte_of_application_data_is_cheap() {
    let segs = segments(TLS13_OK);
    let (mut s, mut ev) = run(&segs);
    let n_events = ev.len();
    // 4 records of 16379 bytes of body = 65536 bytes per feed, 16384 feeds = 1 GiB.
    let mut chunk = Vec::with_capacity(65536);
    for _ in 0..4 {
        chunk.extend([23, 3, 3, 0x3f, 0xfb]);
        chunk.extend(std::iter::repeat_n(0x5a, 16379));
    }
    assert_eq!(chunk.len(), 65536);
    for _ in 0..16384 {
        s.feed(ToClient, &chunk, &mut ev);
        // Misaligned feeds too: split one chunk in odd places.
        s.feed(ToServer, &chunk[..7], &mut ev);
        s.feed(ToServer, &chunk[7..40000], &mut ev);
        s.feed(ToServer, &chunk[40000..], &mut ev);
    }
    assert_eq!(ev.len(), n_events);
    assert!(s.buffered_bytes() < 4096);
    assert_eq!(s.stats(ToClient).app_data_records, 8 + 4 * 16384);
    assert_eq!(s.stats(ToServer).current_record, None);
}

#[test]
fn event_budget_bounds_output() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    let alerts: Vec<u8> = std::iter::repeat_n(record(21, &[1, 0]), 2000)
        .flatten()
        .collect();
    s.feed(ToClient, &alerts, &mut ev);
    assert_eq!(ev.len(), MAX_EVENTS_PER_DIRECTION as usize);
    assert_eq!(
        s.stats(ToClient).events_suppressed,
        2000 - u64::from(MAX_EVENTS_PER_DIRECTION)
    );
    assert_eq!(s.stats(ToClient).records, 2000);
}

// ------------------------------------------------------------------------------------------------
// HTTP and other non-TLS
// ------------------------------------------------------------------------------------------------

#[test]
fn connect_tunnel_then_tls() {
    let req = b"CONNECT tls.example.test:443 HTTP/1.1\r\nHost: tls.example.test:443\r\nUser-Agent: x\r\n\r\n";
    let resp = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let mut segs: Segs = vec![(ToServer, req.to_vec()), (ToClient, resp.to_vec())];
    segs.extend(segments(TLS13_OK));
    let (s, ev) = run(&segs);
    let r = s.connect_request().unwrap();
    assert_eq!(r.method, "CONNECT");
    assert_eq!(r.target, "tls.example.test:443");
    assert_eq!(r.host.as_deref(), Some("tls.example.test:443"));
    assert_eq!(s.connect_response().unwrap().status, 200);
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert!(!s.stats(ToServer).not_tls && !s.stats(ToClient).not_tls);
    let c: Vec<_> = ev.iter().filter(|e| e.dir == ToServer).collect();
    assert!(matches!(&c[0].kind, TlsEventKind::HttpRequest(r) if r.method == "CONNECT"));
    assert_eq!((c[0].start, c[0].end), (0, req.len() as u64));
    assert!(matches!(c[1].kind, TlsEventKind::ClientHello(_)));
    assert_eq!(c[1].start, req.len() as u64 + 5);
    let sv: Vec<_> = ev.iter().filter(|e| e.dir == ToClient).collect();
    assert!(matches!(&sv[0].kind, TlsEventKind::HttpResponse(r) if r.status == 200));
    assert!(matches!(sv[1].kind, TlsEventKind::ServerHello(_)));
    assert_eq!(sv[1].start, resp.len() as u64 + 5);

    // Same bytes, one at a time.
    let mut s2 = TlsSession::new();
    let mut ev2 = Vec::new();
    for (d, b) in &segs {
        for x in b {
            s2.feed(*d, std::slice::from_ref(x), &mut ev2);
        }
    }
    assert_eq!(ev2, ev);
}

#[test]
fn connect_then_407() {
    let req = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    let resp = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n";
    let (s, ev) = run(&[(ToServer, req.to_vec()), (ToClient, resp.to_vec())]);
    let r = s.connect_response().unwrap();
    assert_eq!(r.status, 407);
    assert_eq!(r.status_line, "HTTP/1.1 407 Proxy Authentication Required");
    assert_eq!(
        r.headers[0],
        (
            "Proxy-Authenticate".to_owned(),
            "Basic realm=\"corp\"".to_owned()
        )
    );
    assert_eq!(r.header_len, resp.len());
    assert!(!s.is_tls());
    assert_eq!(s.progress(), HandshakeProgress::None);
    assert!(s.stats(ToClient).not_tls);
    assert_eq!(ev.len(), 2);
}

#[test]
fn forbidden_403_with_body_split() {
    let req = b"CONNECT blocked.example:443 HTTP/1.1\r\nHost: blocked.example:443\r\n\r\n";
    let body = "<html><body><h1>403 Forbidden</h1>Blocked by policy</body></html>";
    let resp = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    );
    let split = resp.find("<h1>").unwrap();
    let (s, ev) = run(&[
        (ToServer, req.to_vec()),
        (ToClient, resp.as_bytes()[..split].to_vec()),
        (ToClient, resp.as_bytes()[split..].to_vec()),
    ]);
    let TlsEventKind::HttpResponse(e) = &ev[1].kind else {
        panic!("{ev:?}")
    };
    assert_eq!(e.status, 403);
    assert_eq!(e.body_excerpt, "<html><body>");
    assert_eq!(s.http_response().unwrap().body_excerpt, body);
    assert_eq!(s.connect_response().unwrap().body_excerpt, body);
    assert_eq!(ev.len(), 2);
}

#[test]
fn azure_firewall_470_instead_of_server_hello() {
    let body = "Action: Deny. Reason: No rule matched. Proceeding with default action.";
    let resp = format!(
        "HTTP/1.1 470 status code 470\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{}",
        body.len(),
        body
    );
    let mut segs = segments(TLS13_OK);
    segs.truncate(1);
    segs.push((ToClient, resp.clone().into_bytes()));
    let (s, ev) = run(&segs);
    assert_eq!(s.progress(), HandshakeProgress::ClientHello);
    let e = ev.iter().find(|e| e.dir == ToClient).unwrap();
    assert_eq!((e.start, e.end), (0, (resp.len() - body.len()) as u64));
    let TlsEventKind::HttpResponse(r) = &e.kind else {
        panic!()
    };
    assert_eq!(r.status, 470);
    assert_eq!(r.status_line, "HTTP/1.1 470 status code 470");
    assert_eq!(r.body_excerpt, body);
    assert_eq!(r.headers.len(), 3);
    assert_eq!(s.http_response(), Some(&**r));
    assert!(s.connect_response().is_none());
    assert!(s.stats(ToClient).not_tls);
}

#[test]
fn html_without_status_line() {
    let page = b"<html><head><title>Blocked</title></head><body>Access denied</body></html>\n";
    let mut segs = segments(TLS13_OK);
    segs.truncate(1);
    segs.push((ToClient, page.to_vec()));
    let (s, ev) = run(&segs);
    let n = s.not_tls(ToClient).unwrap();
    assert_eq!(n.looks_like, "HTML");
    assert!(n.excerpt.starts_with("<html><head><title>Blocked"));
    assert!(n.excerpt.ends_with("</html>\\n"));
    assert!(matches!(&ev[1].kind, TlsEventKind::NotTls(n) if n.looks_like == "HTML"));
    assert_eq!(ev.len(), 2);
    assert!(s.stats(ToClient).not_tls);
}

#[test]
fn ssh_banner() {
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToClient, b"SS", &mut ev);
    assert!(ev.is_empty());
    s.feed(ToClient, b"H-2.0-OpenSSH_9.6\r\n", &mut ev);
    s.feed(ToClient, &[0u8; 500], &mut ev);
    assert_eq!(ev.len(), 1);
    let TlsEventKind::NotTls(n) = &ev[0].kind else {
        panic!()
    };
    assert_eq!(n.looks_like, "SSH banner");
    assert_eq!(n.excerpt, "SSH-2.0-OpenSSH_9.6\\r\\n");
    let full = s.not_tls(ToClient).unwrap();
    assert!(full.excerpt.starts_with("SSH-2.0-OpenSSH_9.6\\r\\n\\x00"));
    assert!(full.excerpt.len() <= 120);
    assert_eq!(s.stats(ToClient).bytes, 521);
    // The client's bytes are still parsed.
    s.feed(ToServer, &segments(TLS13_OK)[0].1, &mut ev);
    assert_eq!(s.progress(), HandshakeProgress::ClientHello);
}

#[test]
fn http_response_after_tls_records() {
    let mut data = record(21, &[2, 40]);
    data.extend(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    for sz in [1, 3, 1000] {
        let (s, ev) = run(&resegment(&vec![(ToClient, data.clone())], &[sz]));
        assert_eq!(ev.len(), 2);
        assert!(matches!(ev[0].kind, TlsEventKind::Alert(_)));
        assert!(matches!(&ev[1].kind, TlsEventKind::HttpResponse(r) if r.status == 400));
        assert_eq!((ev[1].start, ev[1].end), (7, data.len() as u64));
        assert_eq!(s.http_response().unwrap().headers.len(), 1);
    }
}

#[test]
fn plain_http_client_is_not_tls() {
    let req = b"GET /index.html HTTP/1.1\r\nHost: www.example.test\r\n\r\n";
    let resp = b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://www.example.test/\r\n\r\n";
    let (s, ev) = run(&[(ToServer, req.to_vec()), (ToClient, resp.to_vec())]);
    assert!(!s.is_tls());
    let r = s.http_request().unwrap();
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("GET", "/index.html")
    );
    assert_eq!(r.host.as_deref(), Some("www.example.test"));
    assert!(s.connect_request().is_none());
    assert_eq!(s.http_response().unwrap().status, 301);
    assert_eq!(ev.len(), 2);
}

#[test]
fn banners_and_binary() {
    for (bytes, label) in [
        (&b"220 smtp.example ESMTP\r\n"[..], "SMTP/FTP/POP banner"),
        (b"+OK POP3 ready\r\n", "SMTP/FTP/POP banner"),
        (b"\x00\x01\x02\x03", "binary"),
        (b"\x15\x00\x00", "binary"),
    ] {
        let mut s = TlsSession::new();
        let mut ev = Vec::new();
        s.feed(ToClient, bytes, &mut ev);
        assert_eq!(s.not_tls(ToClient).unwrap().looks_like, label);
        assert_eq!(ev.len(), 1);
    }
}

// ------------------------------------------------------------------------------------------------
// TLS that starts later in the stream (STARTTLS, SSLRequest, SOCKS)
// ------------------------------------------------------------------------------------------------

/// Plaintext exchanged before TLS, then a fixture's TLS segments.
fn late(prelude: &[(Direction, &[u8])], fixture: &[u8]) -> Segs {
    let mut segs: Segs = prelude.iter().map(|(d, b)| (*d, b.to_vec())).collect();
    segs.extend(segments(fixture));
    segs
}

fn prelude_len(prelude: &[(Direction, &[u8])], dir: Direction) -> u64 {
    prelude
        .iter()
        .filter(|(d, _)| *d == dir)
        .map(|(_, b)| b.len() as u64)
        .sum()
}

/// The fixture's own events, each moved by the plaintext that came before it in its direction.
fn shifted(fixture: &[u8], client_by: u64, server_by: u64) -> Vec<TlsEvent> {
    let (_, ev) = run(&segments(fixture));
    ev.into_iter()
        .map(|mut e| {
            let by = if e.dir == ToServer {
                client_by
            } else {
                server_by
            };
            e.start += by;
            e.end += by;
            e
        })
        .collect()
}

fn without_not_tls(ev: &[TlsEvent]) -> Vec<TlsEvent> {
    ev.iter()
        .filter(|e| !matches!(e.kind, TlsEventKind::NotTls(_)))
        .cloned()
        .collect()
}

const SMTP_PRELUDE: [(Direction, &[u8]); 5] = [
    (ToClient, b"220 mx.example.test ESMTP ready\r\n"),
    (ToServer, b"EHLO client.example.test\r\n"),
    (
        ToClient,
        b"250-mx.example.test at your service\r\n250-SIZE 35882577\r\n250 STARTTLS\r\n",
    ),
    (ToServer, b"STARTTLS\r\n"),
    (ToClient, b"220 2.0.0 Ready to start TLS\r\n"),
];

/// SOCKS5: greeting, method choice, CONNECT to tls.example.test:443, success reply.
const SOCKS5_PRELUDE: [(Direction, &[u8]); 4] = [
    (ToServer, &[5, 1, 0]),
    (ToClient, &[5, 0]),
    (ToServer, b"\x05\x01\x00\x03\x10tls.example.test\x01\xbb"),
    (ToClient, &[5, 0, 0, 1, 192, 0, 2, 7, 0x01, 0xbb]),
];

/// PostgreSQL SSLRequest (length 8, code 80877103) and the server's 'S'.
const PG_SSLREQUEST: &[u8] = &[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

#[test]
fn starttls_smtp_then_tls13() {
    let segs = late(&SMTP_PRELUDE, TLS13_OK);
    let (c, sv) = (
        prelude_len(&SMTP_PRELUDE, ToServer),
        prelude_len(&SMTP_PRELUDE, ToClient),
    );
    for segs in [
        segs.clone(),
        resegment(&segs, &[1]),
        resegment(&segs, &[3, 7, 11, 2]),
    ] {
        let (s, ev) = run(&segs);
        assert_eq!(s.progress(), HandshakeProgress::Complete);
        assert!(!s.stats(ToServer).not_tls && !s.stats(ToClient).not_tls);
        // The plaintext part is still reported, once per direction, at offset 0.
        let nt: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e.kind, TlsEventKind::NotTls(_)))
            .collect();
        assert_eq!(nt.len(), 2);
        assert!(nt.iter().all(|e| e.start == 0));
        assert_eq!(s.not_tls(ToServer).unwrap().looks_like, "text");
        assert_eq!(
            s.not_tls(ToServer).unwrap().excerpt,
            "EHLO client.example.test\\r\\nSTARTTLS\\r\\n"
        );
        assert_eq!(
            s.not_tls(ToClient).unwrap().looks_like,
            "SMTP/FTP/POP banner"
        );
        assert!(s
            .not_tls(ToClient)
            .unwrap()
            .excerpt
            .starts_with("220 mx.example.test ESMTP ready\\r\\n250-"));
        // The TLS part: exactly the fixture's events, at offsets that count the plaintext.
        assert_eq!(without_not_tls(&ev), shifted(TLS13_OK, c, sv));
        // Records are counted from the TLS start only.
        assert_eq!(
            s.stats(ToServer).records,
            run(&segments(TLS13_OK)).0.stats(ToServer).records
        );
    }
}

#[test]
fn socks5_then_tls12() {
    let segs = late(&SOCKS5_PRELUDE, TLS12_CHAIN);
    let (s, ev) = run(&resegment(&segs, &[1]));
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    assert_eq!(s.not_tls(ToServer).unwrap().looks_like, "binary");
    assert_eq!(s.not_tls(ToClient).unwrap().looks_like, "binary");
    assert_eq!(
        without_not_tls(&ev),
        shifted(
            TLS12_CHAIN,
            prelude_len(&SOCKS5_PRELUDE, ToServer),
            prelude_len(&SOCKS5_PRELUDE, ToClient)
        )
    );
    assert!(!s.certificates().is_empty());
}

#[test]
fn pg_sslrequest_then_tls_in_the_same_segments() {
    // The SSLRequest and the ClientHello, and 'S' and the ServerHello, each arrive in one feed call:
    // the NotTls event's excerpt stops where TLS starts.
    let mut segs = segments(TLS12_CHAIN);
    let mut ch = PG_SSLREQUEST.to_vec();
    ch.extend(&segs[0].1);
    segs[0].1 = ch;
    let mut sh = b"S".to_vec();
    sh.extend(&segs[1].1);
    segs[1].1 = sh;
    let (s, ev) = run(&segs);
    assert_eq!(s.progress(), HandshakeProgress::Complete);
    let nt: Vec<_> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            TlsEventKind::NotTls(n) => Some((e.dir, e.start, e.end, n.excerpt.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        nt,
        vec![
            (
                ToServer,
                0,
                8,
                "\\x00\\x00\\x00\\x08\\x04\\xd2\\x16/".to_owned()
            ),
            (ToClient, 0, 1, "S".to_owned()),
        ]
    );
    assert_eq!(s.not_tls(ToClient).unwrap().excerpt, "S");
    assert_eq!(without_not_tls(&ev), shifted(TLS12_CHAIN, 8, 1));
    // Byte by byte: the same TLS events (only the NotTls event excerpts depend on segmentation).
    let (s2, ev2) = run(&resegment(&segs, &[1]));
    assert_eq!(without_not_tls(&ev2), without_not_tls(&ev));
    assert_eq!(observe(&s2), observe(&s));
}

#[test]
fn late_client_hello_split_at_every_byte() {
    let text = b"a001 STARTTLS\r\n";
    let ch = &segments(TLS13_OK)[0].1;
    let mut stream = text.to_vec();
    stream.extend(ch);
    for cut in 1..stream.len().min(text.len() + 40) {
        let mut s = TlsSession::new();
        let mut ev = Vec::new();
        s.feed(ToServer, &stream[..cut], &mut ev);
        s.feed(ToServer, &stream[cut..], &mut ev);
        assert_eq!(s.client_hellos().len(), 1, "cut at {cut}");
        let e = ev.last().unwrap();
        assert!(matches!(e.kind, TlsEventKind::ClientHello(_)));
        assert_eq!(e.start, text.len() as u64 + 5, "cut at {cut}");
        assert_eq!(e.end, stream.len() as u64);
        assert_eq!(
            s.not_tls(ToServer).unwrap().excerpt,
            "a001 STARTTLS\\r\\n",
            "cut at {cut}"
        );
    }
}

#[test]
fn garbage_with_16_03_is_not_tls() {
    let fakes: [&[u8]; 8] = [
        b"\x16\x03\x01\x00\x00 zero-length record ....",
        b"\x16\x03\x05\x00\x40\x01\x00\x00\x3c\x03\x03 minor version 5",
        b"\x16\x03\x01\x48\x01\x01\x00\x48\x00\x03\x03 record too long",
        b"\x16\x03\x01\x00\x40\x02\x00\x00\x3c\x03\x03 ServerHello from the client",
        b"\x16\x03\x01\x00\x40\x01\x00\x00\x10\x03\x03 hello too short",
        b"\x16\x03\x01\x00\x40\x01\x01\x00\x3c\x03\x03 hello over 64 KiB",
        b"\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x05\x05 bad hello version",
        b"\x16\x03\x01\x00\x40\x01\x00\x00\x3c\x03\x09 bad hello minor",
    ];
    let mut stream = b"xyzzy ".to_vec();
    for f in fakes {
        stream.extend(f);
        stream.extend(b"\r\n");
    }
    let ch = &segments(TLS13_OK)[0].1;
    for sz in [1, 2, 5, 10, 11, 12, 1000] {
        let (s, ev) = run(&resegment(&vec![(ToServer, stream.clone())], &[sz]));
        assert!(!s.is_tls(), "size {sz}");
        assert!(s.stats(ToServer).not_tls);
        assert_eq!(s.stats(ToServer).records, 0);
        assert_eq!(ev.len(), 1);
        // Scanning goes on after the near misses: a real ClientHello is still found.
        let mut with_ch = stream.clone();
        with_ch.extend(ch);
        let (s, ev) = run(&resegment(&vec![(ToServer, with_ch)], &[sz]));
        assert_eq!(s.client_hellos().len(), 1, "size {sz}");
        assert!(!s.stats(ToServer).not_tls);
        assert_eq!(ev.last().unwrap().start, stream.len() as u64 + 5);
    }
}

#[test]
fn server_hello_needs_a_client_hello_first() {
    let sh = &segments(TLS13_OK)[1].1;
    let mut stream = b"* OK IMAP4rev1 ready\r\n".to_vec();
    stream.extend(sh);
    let (s, ev) = run(&[(ToClient, stream.clone())]);
    assert!(s.server_hello().is_none() && !s.is_tls());
    assert!(s.stats(ToClient).not_tls);
    assert_eq!(ev.len(), 1);
    // The same server bytes after the client's late ClientHello are TLS.
    let ch = &segments(TLS13_OK)[0].1;
    let mut cstream = b"a001 STARTTLS\r\n".to_vec();
    cstream.extend(ch);
    let (s, _) = run(&[(ToServer, cstream), (ToClient, stream)]);
    assert!(s.server_hello().is_some());
    assert!(!s.stats(ToClient).not_tls);
}

#[test]
fn sslv2_client_hello_after_plaintext() {
    let mut body = vec![1, 0x03, 0x01, 0x00, 0x09, 0x00, 0x00, 0x00, 0x10];
    body.extend([0x00, 0x00, 0x2f, 0x00, 0x00, 0x35, 0x01, 0x00, 0x80]);
    body.extend([0xaa; 16]);
    let mut rec = vec![0x80, body.len() as u8];
    rec.extend(&body);
    let mut stream = b"\x04\x01\x01\xbb\xc0\x00\x02\x07user\x00".to_vec(); // SOCKS4 CONNECT
    let at = stream.len() as u64;
    stream.extend(&rec);
    for sz in [1, 4, 100] {
        let (s, ev) = run(&resegment(&vec![(ToServer, stream.clone())], &[sz]));
        let ch = s.client_hello().unwrap();
        assert!(ch.sslv2_format);
        assert_eq!(ch.cipher_suites, vec![0x002f, 0x0035]);
        let e = ev.last().unwrap();
        assert_eq!((e.start, e.end), (at, stream.len() as u64));
        assert_eq!(
            s.stats(ToServer).last_record,
            Some((at, 0x80, body.len() as u16))
        );
    }
    // A byte with the high bit set followed by bytes that do not add up is not a ClientHello.
    let mut bad = rec.clone();
    bad[1] += 1;
    let mut stream = b"\x04\x01\x01\xbb\xc0\x00\x02\x07user\x00".to_vec();
    stream.extend(&bad);
    let (s, _) = run(&[(ToServer, stream)]);
    assert!(!s.is_tls());
}

#[test]
fn late_tls_after_a_gap_in_the_plaintext() {
    let ch = &segments(TLS13_OK)[0].1;
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToServer, b"EHLO x\r\n", &mut ev);
    s.gap(ToServer, 100, &mut ev);
    s.feed(ToServer, b"STARTTLS\r\n", &mut ev);
    s.feed(ToServer, ch, &mut ev);
    assert_eq!(s.client_hellos().len(), 1);
    assert_eq!(ev.last().unwrap().start, 8 + 100 + 10 + 5);
    assert!(!ev.iter().any(|e| e.kind == TlsEventKind::LostSync));
    // The excerpt stops at the gap.
    assert_eq!(s.not_tls(ToServer).unwrap().excerpt, "EHLO x\\r\\n");

    // A gap inside a candidate record header: the bytes around it are not joined up.
    let mut s = TlsSession::new();
    let mut ev = Vec::new();
    s.feed(ToServer, b"STARTTLS\r\n", &mut ev);
    s.feed(ToServer, &ch[..4], &mut ev);
    s.gap(ToServer, 3, &mut ev);
    s.feed(ToServer, &ch[7..], &mut ev);
    assert!(s.client_hellos().is_empty());
    assert!(s.buffered_bytes() <= BUFFER_BOUND);
}

#[test]
fn tls13_experiment_versions() {
    // Chrome 62-64 canaries negotiated Google's TLS 1.3 "experiment" variants through supported_versions.
    assert!(names::is_tls13_version(0x7e01) && names::is_tls13_version(0x7e03));
    assert!(!names::is_tls13_version(0x7e04) && !names::is_tls13_version(0x0303));
    assert_eq!(names::version_name(0x7e01), "TLS 1.3 experiment 1");
    assert_eq!(names::version_name(0x7f17), "TLS 1.3 draft 23");
}

#[test]
fn late_tls_scan_stops_at_its_limit() {
    let ch = &segments(TLS13_OK)[0].1;
    let limit = usize::try_from(LATE_TLS_SCAN_LIMIT).unwrap();
    for (filler, found) in [(limit - 1, true), (limit, false)] {
        let mut stream = vec![b'A'; filler];
        stream.extend(ch);
        let (s, _) = run(&resegment(&vec![(ToServer, stream)], &[65536]));
        assert_eq!(
            s.client_hellos().len(),
            usize::from(found),
            "filler {filler}"
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Property tests
// ------------------------------------------------------------------------------------------------

/// Re-splits every segment into chunks whose sizes cycle through `sizes`.
fn resegment(segs: &Segs, sizes: &[usize]) -> Segs {
    let mut out = Vec::new();
    let mut k = 0;
    for (dir, data) in segs {
        let mut i = 0;
        while i < data.len() {
            let n = sizes[k % sizes.len()].max(1).min(data.len() - i);
            k += 1;
            out.push((*dir, data[i..i + n].to_vec()));
            i += n;
        }
    }
    out
}

/// Re-packs each segment's leading run of plaintext handshake records (before the first record
/// of another type) into records whose payload sizes cycle through `sizes`.
fn rerecord(segs: &Segs, sizes: &[usize]) -> Segs {
    let mut k = 0;
    segs.iter()
        .map(|(dir, seg)| {
            let recs = records_of(seg);
            let run_len = recs.iter().take_while(|r| r.1 == 22).count();
            if run_len == 0 {
                return (*dir, seg.clone());
            }
            let mut payload = Vec::new();
            for &(at, _, len) in &recs[..run_len] {
                payload.extend_from_slice(&seg[at + 5..at + 5 + len]);
            }
            let mut out = Vec::new();
            let mut i = 0;
            while i < payload.len() {
                let n = sizes[k % sizes.len()].max(1).min(payload.len() - i);
                k += 1;
                out.extend([22, seg[1], seg[2]]);
                out.extend((n as u16).to_be_bytes());
                out.extend_from_slice(&payload[i..i + n]);
                i += n;
            }
            let tail = recs.get(run_len).map_or(seg.len(), |r| r.0);
            out.extend_from_slice(&seg[tail..]);
            (*dir, out)
        })
        .collect()
}

/// Everything observable about a finished session.
fn observe(s: &TlsSession) -> String {
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        s.progress(),
        s.version(),
        s.client_hellos(),
        s.server_hello(),
        s.hello_retry(),
        s.certificates(),
        s.stats(ToServer),
        s.stats(ToClient),
        s.not_tls(ToServer),
        s.not_tls(ToClient),
        s.http_response(),
        s.connect_response(),
    )
}

/// Event kinds without what depends on record boundaries (offsets, ClientHello.records).
fn record_independent(ev: &[TlsEvent]) -> Vec<(Direction, TlsEventKind)> {
    ev.iter()
        .map(|e| {
            let mut k = e.kind.clone();
            if let TlsEventKind::ClientHello(ch) = &mut k {
                let ch = std::sync::Arc::make_mut(ch);
                ch.records = 0;
                ch.record_version = 0;
            }
            (e.dir, k)
        })
        .collect()
}

/// Events with the two documented chunk-dependent parts blanked.
fn chunk_independent(ev: &[TlsEvent]) -> Vec<TlsEvent> {
    ev.iter()
        .cloned()
        .map(|mut e| {
            match &mut e.kind {
                TlsEventKind::NotTls(n) => {
                    n.excerpt.clear();
                    e.end = e.start;
                }
                TlsEventKind::HttpResponse(r) => r.body_excerpt.clear(),
                _ => {}
            }
            e
        })
        .collect()
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![1usize..8, 1usize..300, 1usize..3000], 1..40)
}

/// Plausible TLS-ish streams: records with random types, versions and bodies (handshake bodies
/// with random message headers), sometimes corrupted.
fn tlsish() -> impl Strategy<Value = Vec<u8>> {
    let rec = (
        prop_oneof![
            Just(20u8),
            Just(21),
            Just(22),
            Just(23),
            Just(24),
            any::<u8>()
        ],
        prop_oneof![Just(1u8), Just(3), any::<u8>()],
        prop::collection::vec(any::<u8>(), 0..200),
        any::<u8>(),
        any::<bool>(),
    )
        .prop_map(|(ct, minor, mut body, ht, hs_header)| {
            if ct == 22 && hs_header && body.len() >= 4 {
                let l = body.len() - 4;
                body[0] = ht % 16;
                body[1] = 0;
                body[2] = (l >> 8) as u8;
                body[3] = l as u8;
            }
            let mut r = vec![ct, 3, minor];
            r.extend((body.len() as u16).to_be_bytes());
            r.extend(body);
            r
        });
    prop::collection::vec(rec, 0..20).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_segmentation_gives_the_same_events(fx in 0usize..FIXTURES.len(), sz in sizes()) {
        let segs = segments(FIXTURES[fx]);
        let (s1, e1) = run(&segs);
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(e1, e2);
        prop_assert_eq!(observe(&s1), observe(&s2));
    }

    #[test]
    fn late_tls_is_segmentation_independent(which in 0usize..3, sz in sizes()) {
        let segs = match which {
            0 => late(&SMTP_PRELUDE, TLS13_OK),
            1 => late(&SOCKS5_PRELUDE, TLS12_CHAIN),
            _ => late(&[(ToServer, PG_SSLREQUEST), (ToClient, &b"S"[..])], TLS13_HRR),
        };
        let (s1, e1) = run(&segs);
        prop_assert_eq!(s1.progress(), run(&segments(match which {
            0 => TLS13_OK,
            1 => TLS12_CHAIN,
            _ => TLS13_HRR,
        })).0.progress());
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(chunk_independent(&e1), chunk_independent(&e2));
        prop_assert_eq!(observe(&s1), observe(&s2));
    }

    #[test]
    fn late_tls_after_random_plaintext(
        text in prop::collection::vec(any::<u8>(), 0..600),
        sz in sizes(),
    ) {
        // Plaintext (first byte printable so it is not TLS), a gap-free ClientHello, the server's flight.
        let mut c = b"X".to_vec();
        c.extend(&text);
        let at = c.len() as u64;
        let fx = segments(TLS13_OK);
        c.extend(&fx[0].1);
        let mut segs: Segs = vec![(ToServer, c), (ToClient, b"+OK ".to_vec())];
        segs.extend(fx.into_iter().skip(1));
        let (s1, e1) = run(&segs);
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(chunk_independent(&e1), chunk_independent(&e2));
        prop_assert_eq!(observe(&s1), observe(&s2));
        prop_assert!(s1.buffered_bytes() <= BUFFER_BOUND);
        let ch = e1.iter().find(|e| matches!(e.kind, TlsEventKind::ClientHello(_)));
        prop_assert_eq!(ch.map(|e| e.start), Some(at + 5));
        prop_assert_eq!(s1.progress(), HandshakeProgress::Complete);
    }

    #[test]
    fn any_record_chunking_gives_the_same_messages(fx in 0usize..FIXTURES.len(), sz in sizes()) {
        let segs = segments(FIXTURES[fx]);
        let (s1, e1) = run(&segs);
        let re = rerecord(&segs, &sz);
        let (s2, e2) = run(&re);
        prop_assert_eq!(record_independent(&e1), record_independent(&e2));
        prop_assert_eq!(s1.progress(), s2.progress());
        prop_assert_eq!(s1.certificates(), s2.certificates());
        prop_assert_eq!(s1.server_hello(), s2.server_hello());
        let (s3, e3) = run(&resegment(&re, &sz));
        prop_assert_eq!(e2, e3);
        prop_assert_eq!(observe(&s2), observe(&s3));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        c in prop::collection::vec(any::<u8>(), 0..3000),
        sv in prop::collection::vec(any::<u8>(), 0..3000),
        prefix in prop_oneof![
            Just(Vec::new()),
            Just(vec![22u8, 3, 1]),
            Just(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec()),
            Just(b"CONNECT a:443 HTTP/1.1\r\n\r\n".to_vec()),
            Just(vec![0x80u8, 0x40, 1, 3, 1]),
        ],
        sz in sizes(),
        gaps in prop::collection::vec((any::<bool>(), 0u64..5000), 0..4),
    ) {
        let mut c2 = prefix.clone();
        c2.extend(&c);
        let mut sv2 = prefix;
        sv2.extend(&sv);
        let segs: Segs = vec![(ToServer, c2), (ToClient, sv2)];
        let (s1, e1) = run(&segs);
        prop_assert!(s1.buffered_bytes() <= BUFFER_BOUND);
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(chunk_independent(&e1), chunk_independent(&e2));
        prop_assert_eq!(observe(&s1), observe(&s2));
        // With gaps in between: no panic, bounded.
        let mut s3 = TlsSession::new();
        let mut e3 = Vec::new();
        for (i, (d, b)) in resegment(&segs, &sz).iter().enumerate() {
            if let Some((toserver, len)) = gaps.get(i % 8) {
                let gd = if *toserver { ToServer } else { ToClient };
                s3.gap(gd, *len, &mut e3);
            }
            s3.feed(*d, b, &mut e3);
            prop_assert!(s3.buffered_bytes() <= BUFFER_BOUND);
        }
        let lost = |d: Direction| e3.iter().filter(|e| e.dir == d && e.kind == TlsEventKind::LostSync).count();
        prop_assert!(lost(ToServer) <= 1 && lost(ToClient) <= 1);
    }

    #[test]
    fn tls_like_bytes_are_segmentation_independent(
        c in tlsish(), sv in tlsish(), sz in sizes()
    ) {
        let segs: Segs = vec![(ToServer, c), (ToClient, sv)];
        let (s1, e1) = run(&segs);
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(chunk_independent(&e1), chunk_independent(&e2));
        prop_assert_eq!(observe(&s1), observe(&s2));
        prop_assert!(s1.buffered_bytes() <= BUFFER_BOUND);
        for e in &e1 {
            prop_assert!(e.start <= e.end);
        }
    }

    #[test]
    fn mutated_fixtures_never_panic(
        fx in 0usize..FIXTURES.len(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        sz in sizes(),
    ) {
        // Corrupt a few bytes (mostly inside hellos and certificates, which come first).
        let mut segs = segments(FIXTURES[fx]);
        let n = segs.len().min(3);
        for (at, x) in &flips {
            let seg = at.index(n);
            let i = at.index(segs[seg].1.len());
            segs[seg].1[i] ^= x | 1;
        }
        let (s1, e1) = run(&segs);
        let (s2, e2) = run(&resegment(&segs, &sz));
        prop_assert_eq!(chunk_independent(&e1), chunk_independent(&e2));
        prop_assert_eq!(observe(&s1), observe(&s2));
        prop_assert!(s1.buffered_bytes() <= BUFFER_BOUND);
    }

    #[test]
    fn fixture_with_random_gaps_never_panics(
        fx in 0usize..FIXTURES.len(), at in any::<prop::sample::Index>(), len in 0usize..400, sz in sizes()
    ) {
        let segs = resegment(&segments(FIXTURES[fx]), &sz);
        let seg = at.index(segs.len());
        let data = &segs[seg].1;
        let from = at.index(data.len() + 1).min(data.len());
        let to = (from + len).min(data.len());
        let (s, ev) = run_with_gap(&segs, seg, from, to);
        prop_assert!(s.buffered_bytes() <= BUFFER_BOUND);
        prop_assert!(ev.iter().filter(|e| e.kind == TlsEventKind::LostSync).count() <= 2);
    }
}

/// Decoded certificates are remembered by their DER bytes (`cert::cached_cert_info`): a chain seen
/// again decodes to the same, whether it is still remembered or was pushed out by others.
#[test]
fn remembered_certificates_are_the_same() {
    use crate::tls::cert::{cached_cert_info, cert_info};
    let chain = || run(&segments(TLS12_CHAIN)).0.certificates().to_vec();
    let first = chain();
    assert_eq!(first.len(), 2);
    assert_eq!(chain(), first, "remembered");
    // A certificate of the same length that differs in one byte of its name is not taken for it.
    let leaf = leaf_der(TLS12_CHAIN);
    let at = leaf
        .windows(16)
        .position(|w| w == b"tls.example.test")
        .expect("the leaf names its host");
    let mut other = leaf.clone();
    other[at] = b'u';
    let (a, b) = (cached_cert_info(&leaf), cached_cert_info(&other));
    assert_eq!(a.subject_cn.as_deref(), Some("tls.example.test"));
    assert_eq!(b.subject_cn.as_deref(), Some("uls.example.test"));
    assert_eq!((a, b), (cert_info(&leaf), cert_info(&other)));
    // Forty other "certificates" (not DER) push the chain out.
    for k in 0..40u8 {
        let junk = [0x30, 0x03, 0x02, 0x01, k];
        assert_eq!(cached_cert_info(&junk), cert_info(&junk));
        assert_eq!(cached_cert_info(&junk), cert_info(&junk), "remembered");
    }
    assert_eq!(chain(), first, "decoded again");
}

/// The DER of the first certificate of the server's Certificate message in a fixture.
fn leaf_der(bin: &[u8]) -> Vec<u8> {
    let be = |b: &[u8]| b.iter().fold(0usize, |n, x| n << 8 | usize::from(*x));
    let stream: Vec<u8> = segments(bin)
        .into_iter()
        .filter(|(d, _)| *d == ToClient)
        .flat_map(|(_, b)| b)
        .collect();
    // The handshake records' bodies, then their messages.
    let (mut hs, mut i) = (Vec::new(), 0);
    while i + 5 <= stream.len() {
        let len = be(&stream[i + 3..i + 5]);
        if stream[i] == 22 {
            hs.extend_from_slice(&stream[i + 5..i + 5 + len]);
        }
        i += 5 + len;
    }
    let mut j = 0;
    loop {
        let len = be(&hs[j + 1..j + 4]);
        if hs[j] == 11 {
            // certificate_list length (3), then the first certificate's length (3) and DER.
            let body = &hs[j + 4..j + 4 + len];
            return body[6..6 + be(&body[3..6])].to_vec();
        }
        j += 4 + len;
    }
}

/// Wire bytes as text: valid UTF-8 borrowed as is, invalid bytes replaced as `from_utf8_lossy` does.
#[test]
fn wire_text() {
    assert!(matches!(
        text(b"api.contoso.test"),
        std::borrow::Cow::Borrowed("api.contoso.test")
    ));
    assert_eq!(text("é€😀".as_bytes()), "é€😀");
    for b in [&b"a\xffb"[..], b"\xc3", b"ok\xe2\x82", b"\x80\x80x"] {
        assert_eq!(text(b), String::from_utf8_lossy(b), "{b:?}");
    }
}
