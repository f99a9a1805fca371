//! `probe --replay CAPTURE`: the ClientHello a real client sent, taken from its capture and sent
//! again byte for byte, so the probe's first attempt is exactly what failed (its suites, groups,
//! extensions, key shares and size), not an approximation of it.
//!
//! 1. The capture is analysed as `analyze` does; the connection is the one `--connection` names, or
//!    else the first failed one that sent a ClientHello, or else the first that sent one.
//! 2. The capture is read again as the analysis read it ([`walk_decoded`]), that connection's client-to-server bytes
//!    reassembled ([`Assembler`]), and the TLS records that carry its first ClientHello taken as they
//!    are (a ClientHello split over several records stays split).
//!
//! A ClientHello with bytes missing from the capture, in the SSLv2-compatible format, or behind
//! anything else than handshake records is refused with a message: the probe sends nothing it did
//! not see whole.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context};

use super::hello::Captured;
use crate::analyze::{flow_key, Options};
use crate::decode::Decoded;
use crate::report::evidence::walk_decoded;
use crate::report::{ConnReport, ReportSink, Summary};
use crate::tcp::{Assembler, Chunk};
use crate::verdict::OutcomeClass;

/// Client bytes kept while looking for the end of the ClientHello: its largest size (64 KiB,
/// `--max-handshake-message`'s default) in records of at most 16 KiB, with their headers.
const MAX_STREAM: usize = 64 * 1024 + 64;

/// The connection whose ClientHello is replayed, as the analysis saw it.
#[derive(Clone, Debug)]
struct Chosen {
    id: u64,
    failed: bool,
    client: SocketAddr,
    server: SocketAddr,
    /// Its first and last packets' places in the run.
    first: u64,
    last: u64,
    sni: Option<String>,
    alpn: Vec<String>,
    cipher_suites: Vec<u16>,
    post_quantum: bool,
    outcome: &'static str,
    /// The ClientHello's size, header included, as the analysis parsed it.
    length: usize,
}

/// Collects the connections that sent a ClientHello.
struct Pick {
    want: Option<u64>,
    /// The connection asked for, else the first failed one, else the first one.
    found: Option<Chosen>,
}

impl ReportSink for Pick {
    fn begin(&mut self, _: &[String]) -> std::io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> std::io::Result<()> {
        let Some(ch) = c.conn.tls.client_hello() else {
            return Ok(());
        };
        let failed = c.verdict.outcome.class() == OutcomeClass::Failed;
        let better = match (&self.found, self.want) {
            (_, Some(id)) => c.conn.id == id,
            (None, None) => true,
            (Some(f), None) => failed && !f.failed,
        };
        if better {
            let t = &c.conn.tcp;
            self.found = Some(Chosen {
                id: c.conn.id,
                failed,
                client: t.client,
                server: t.server,
                first: t.first.seq(),
                last: t.last.seq(),
                sni: ch.sni.clone(),
                alpn: ch.alpn.clone(),
                cipher_suites: ch.cipher_suites.clone(),
                post_quantum: ch.key_shares.iter().any(|(g, _)| *g == 0x11ec),
                outcome: c.verdict.outcome.as_str(),
                length: ch.message_len,
            });
        }
        Ok(())
    }

    fn finish(&mut self, _: &Summary) -> std::io::Result<()> {
        Ok(())
    }
}

/// The ClientHello to replay from `path`: connection `id`, or the first failed one that sent one
/// (else the first that did).
pub fn from_capture(path: &str, id: Option<u64>) -> anyhow::Result<Captured> {
    if path == "-" {
        bail!("--replay reads the capture twice: give a file, not standard input");
    }
    let paths = [path.to_string()];
    let mut pick = Pick {
        want: id,
        found: None,
    };
    let summary = crate::run::run(&paths, Options::default(), &mut pick)
        .with_context(|| format!("--replay {path}"))?;
    if let Some(e) = summary.inputs.first().and_then(|i| i.error.as_ref()) {
        bail!("--replay: {e}");
    }
    let chosen = match (pick.found, id) {
        (Some(c), _) => c,
        (None, Some(id)) => bail!(
            "--replay {path}: connection #{id} sent no ClientHello (or there is no such connection; \
             `tlsautopsy analyze --all {path}` lists them)"
        ),
        (None, None) => bail!("--replay {path}: no connection in it sent a ClientHello"),
    };
    let records = records_of(path, &chosen)?;
    let source = format!(
        "the ClientHello of connection #{} in {path} ({} -> {}, {}), byte for byte",
        chosen.id,
        crate::report::endpoint(&chosen.client),
        crate::report::endpoint(&chosen.server),
        chosen.outcome
    );
    Ok(Captured {
        records,
        source,
        server: chosen.server,
        sni: chosen.sni,
        alpn: chosen.alpn,
        cipher_suites: chosen.cipher_suites,
        post_quantum: chosen.post_quantum,
    })
}

/// Where a captured ClientHello goes without an endpoint given: its server name, else the server
/// address it went to; the server port it went to.
pub fn target(c: &Captured) -> super::Target {
    super::Target {
        host: c.sni.clone().unwrap_or_else(|| c.server.ip().to_string()),
        port: c.server.port(),
    }
}

/// Reads `path` again and reassembles the chosen connection's client bytes up to the end of the
/// records that carry its ClientHello.
fn records_of(path: &str, c: &Chosen) -> anyhow::Result<Vec<u8>> {
    let key = flow_key(
        c.client.ip(),
        c.client.port(),
        c.server.ip(),
        c.server.port(),
    );
    let mut asm = Assembler::new(MAX_STREAM);
    let mut stream: Vec<u8> = Vec::new();
    // Bytes the capture missed, before the stream's end.
    let mut gap = false;
    walk_decoded(&[path.to_string()], &mut |_, pos, df| {
        if pos > c.last || gap || stream.len() >= MAX_STREAM {
            return false;
        }
        let Decoded::Tcp(p) = &df.decoded else {
            return true;
        };
        if pos < c.first
            || flow_key(p.ip.src, p.src_port, p.ip.dst, p.dst_port) != key
            || p.ip.src != c.client.ip()
            || p.src_port != c.client.port()
            || p.ip.dst != c.server.ip()
        {
            return true;
        }
        if p.flags.syn() {
            asm.set_isn(p.seq);
        }
        asm.push(p.seq, &p.payload, p.payload_missing, &mut |ch| {
            keep(&mut stream, &mut gap, ch)
        });
        // (Enough once the ClientHello is whole.)
        hello_records_end(&stream).is_err()
    });
    asm.flush(&mut |ch| keep(&mut stream, &mut gap, ch));
    let cannot = |e: String| {
        anyhow!(
            "--replay: the ClientHello of connection #{} cannot be replayed: {e}",
            c.id
        )
    };
    let (end, length) = hello_records_end(&stream).map_err(cannot)?;
    // (The analysis parsed the same message: another size means other bytes.)
    if length != c.length {
        return Err(cannot(format!(
            "its bytes in the stream ({length}) are not the {} the analysis read",
            c.length
        )));
    }
    Ok(stream.get(..end).unwrap_or_default().to_vec())
}

/// Adds reassembled bytes to `stream` (up to [`MAX_STREAM`]), until the capture misses some.
fn keep(stream: &mut Vec<u8>, gap: &mut bool, ch: Chunk<'_>) {
    match ch {
        Chunk::Data(b) if !*gap => {
            let room = MAX_STREAM.saturating_sub(stream.len());
            stream.extend_from_slice(b.get(..b.len().min(room)).unwrap_or_default());
        }
        Chunk::Data(_) => {}
        Chunk::Gap(_) => *gap = true,
    }
}

/// Where the TLS records that carry the stream's first handshake message, a ClientHello, end, and
/// that message's size (header included).
pub(super) fn hello_records_end(stream: &[u8]) -> Result<(usize, usize), String> {
    let missing = "bytes of it are missing from the capture (lost, cut by the snaplen, or the \
                   capture ends first)";
    if stream.first().is_some_and(|b| b & 0x80 != 0) {
        return Err("it is in the SSLv2-compatible format, which the probe does not send".into());
    }
    let mut at = 0usize;
    let mut message: Vec<u8> = Vec::new();
    loop {
        let Some(&[kind, _, _, l0, l1]) = stream.get(at..at + 5) else {
            return Err(missing.into());
        };
        if kind != 22 {
            return Err(format!(
                "the client's bytes are not TLS handshake records (a record of type {kind} comes first)"
            ));
        }
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if len == 0 || len > 16 * 1024 + 2048 {
            return Err(format!("a handshake record claims {len} bytes"));
        }
        let Some(body) = stream.get(at + 5..at + 5 + len) else {
            return Err(missing.into());
        };
        message.extend_from_slice(body);
        at += 5 + len;
        if let Some(&[msg_type, a, b, c]) = message.get(..4) {
            if msg_type != 1 {
                return Err(format!(
                    "the first handshake message is of type {msg_type}, not a ClientHello"
                ));
            }
            let need = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c));
            if need > MAX_STREAM {
                return Err(format!("it claims {need} bytes"));
            }
            if message.len() >= need {
                return Ok((at, need));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::tcp::Direction;
    use crate::tls::TlsSession;
    use std::path::Path;

    /// Every shipped capture whose connections sent a ClientHello gives one to replay: records that
    /// our TLS observer reads as the ClientHello the analysis saw (the same name, suites and size,
    /// in as many records), ending where its last record ends.
    #[test]
    fn every_shipped_client_hello_comes_out_whole() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let mut replayed = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if !matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("pcap" | "pcapng")
            ) {
                continue;
            }
            let path = p.display().to_string();
            let Ok(c) = from_capture(&path, None) else {
                continue;
            };
            let mut s = TlsSession::new();
            s.feed(Direction::ToServer, &c.records, &mut Vec::new());
            let ch = s
                .client_hello()
                .unwrap_or_else(|| panic!("{path}: no ClientHello"));
            assert_eq!(ch.sni, c.sni, "{path}");
            assert_eq!(ch.cipher_suites, c.cipher_suites, "{path}");
            let (end, len) = hello_records_end(&c.records).unwrap();
            assert_eq!(end, c.records.len(), "{path}");
            assert_eq!(len, ch.message_len, "{path}");
            assert!(c.source.contains("byte for byte"), "{path}");
            replayed += 1;
        }
        assert!(
            replayed >= 25,
            "only {replayed} shipped captures had a ClientHello to replay"
        );
    }

    /// The first failed connection by default; `--connection` picks another; one without a
    /// ClientHello, or none, is said.
    #[test]
    fn the_connection_is_the_first_failed_one_or_the_one_named() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
        let p = |f: &str| dir.join(f).display().to_string();
        // One connection that failed after its ClientHello.
        let mut c = from_capture(&p("azfw_close_after_ch.pcap"), None).unwrap();
        assert!(c.source.contains("connection #1"), "{}", c.source);
        // Sent by default to its name and the port it went to; without a name, to the address.
        let t = target(&c);
        assert_eq!(
            (t.host.as_str(), t.port),
            ("global.handler.control.monitor.azure.com", 443)
        );
        c.sni = None;
        let t = target(&c);
        assert_eq!((t.host, t.port), (c.server.ip().to_string(), 443));
        assert!(
            c.source.contains("closed_after_client_hello"),
            "{}",
            c.source
        );
        assert!(from_capture(&p("azfw_close_after_ch.pcap"), Some(1)).is_ok());
        let e = from_capture(&p("azfw_close_after_ch.pcap"), Some(9)).unwrap_err();
        assert!(e.to_string().contains("#9"), "{e}");
        // No ClientHello anywhere.
        let e = from_capture(&p("syn_unanswered.pcap"), None).unwrap_err();
        assert!(e.to_string().contains("no connection"), "{e}");
        let e = from_capture("-", None).unwrap_err();
        assert!(e.to_string().contains("standard input"), "{e}");
    }

    proptest::proptest! {
        /// Any client bytes: an end within them, or a reason; never a panic.
        #[test]
        fn any_stream_gives_an_end_within_it_or_a_reason(
            stream in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096),
            hs in proptest::prelude::any::<bool>(),
        ) {
            let mut stream = stream;
            if hs && stream.len() > 6 {
                stream[0] = 22;
                stream[5] = 1;
            }
            if let Ok((end, len)) = hello_records_end(&stream) {
                proptest::prop_assert!(end <= stream.len() && len <= end);
            }
        }
    }

    #[test]
    fn incomplete_or_foreign_streams_are_refused() {
        let rec = |body: &[u8]| {
            let mut r = vec![22, 3, 1, 0, body.len() as u8];
            r.extend_from_slice(body);
            r
        };
        // A ClientHello of 10 bytes in two records.
        let msg = [1u8, 0, 0, 6, 3, 3, 9, 9, 9, 9];
        let mut two = rec(&msg[..4]);
        two.extend(rec(&msg[4..]));
        two.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        assert_eq!(hello_records_end(&two), Ok((two.len() - 6, 10)));
        assert!(hello_records_end(&two[..12])
            .unwrap_err()
            .contains("missing"));
        assert!(hello_records_end(b"GET / HTTP/1.1\r\n")
            .unwrap_err()
            .contains("type 71"));
        assert!(hello_records_end(&rec(&[2, 0, 0, 1, 0]))
            .unwrap_err()
            .contains("type 2"));
        assert!(hello_records_end(&[0x80, 0x2e, 1, 3, 1])
            .unwrap_err()
            .contains("SSLv2"));
        assert!(hello_records_end(&[22, 3, 1, 0xff, 0xff])
            .unwrap_err()
            .contains("claims"));
    }
}
