//! JSON lines: one object per line, schema version [`SCHEMA`].
//!
//! Every line has `"schema": 1` and a `"type"`:
//! - `"connection"`: one per TCP connection, as soon as it is judged ([`JsonConnection`]);
//! - `"summary"`: once, last ([`JsonSummary`]).
//!
//! Fields are never removed or renamed within a schema version; new fields may be added. Absent
//! values are `null` (or `[]` for lists). Strings from the wire (SNI, HTTP lines, certificate names)
//! are lossy UTF-8. Times are RFC 3339 UTC with nanoseconds; durations are milliseconds (floats).
//! The full field reference is `docs/json-schema.md`.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

use super::jsonw::{write_object, write_plain, write_seq, WriteJson};
use super::{
    endpoint, time, wireshark_filter, write_endpoint, write_wireshark_filter, ConnReport,
    ReportSink, Summary,
};
use crate::analyze::Connection;
use crate::capture::Timestamp;
use crate::recent::Recent;
use crate::tcp::Direction;
use crate::tls::names;
use crate::verdict::offer;

/// The schema version written in every line.
pub const SCHEMA: u32 = 1;

/// One connection.
#[derive(Serialize)]
pub struct JsonConnection<'a> {
    pub schema: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: u64,
    pub file: &'a str,
    pub client: Endpoint,
    pub server: Endpoint,
    pub outcome: &'static str,
    pub class: &'static str,
    pub cause: &'static str,
    pub ended_by: &'static str,
    pub confidence: &'static str,
    pub explanation: &'a str,
    pub reasons: &'a [String],
    pub candidates: Vec<&'static str>,
    pub sni: Option<&'a str>,
    pub endpoint: Option<JsonEndpoint>,
    pub alpn: &'a [String],
    pub tls_version: Option<Cow<'static, str>>,
    pub cipher_suite: Option<Cow<'static, str>>,
    pub alert: Option<&'a str>,
    pub alert_code: Option<u8>,
    pub alert_from: Option<&'static str>,
    pub alerts: Vec<JsonAlert>,
    pub http_status: Option<u16>,
    pub proxy: Option<JsonProxy<'a>>,
    pub tunnel: Option<JsonTunnel>,
    pub client_hello: Option<JsonClientHello<'a>>,
    pub server_hello: Option<JsonServerHello<'a>>,
    pub certificates: Vec<JsonCert<'a>>,
    pub timing: JsonTiming,
    pub ttl: JsonTtl,
    pub tcp: JsonTcp,
    pub after_handshake: Option<JsonAfterHandshake>,
    pub evidence: Vec<JsonEvidence<'a>>,
    pub decisive_frame: Option<u64>,
    pub notes: &'a [String],
    pub wireshark_filter: WiresharkFilter<'a>,
}

/// A plaintext alert seen on the wire (any, not only the decisive one).
#[derive(Serialize)]
pub struct JsonAlert {
    pub from: &'static str,
    pub level: &'static str,
    pub name: Cow<'static, str>,
    pub code: u8,
    pub frame: u64,
}

/// The tunnel a connection came in.
#[derive(Serialize)]
pub struct JsonTunnel {
    pub kind: &'static str,
    pub id: Option<u32>,
    pub outer_src: String,
    pub outer_dst: String,
}

/// The explicit proxy a connection went through.
#[derive(Serialize)]
pub struct JsonProxy<'a> {
    pub address: Endpoint,
    pub target: &'a str,
    pub status: Option<u16>,
}

/// The ClientHello's offer.
#[derive(Serialize)]
pub struct JsonClientHello<'a> {
    pub versions: Names<'a>,
    pub cipher_suites: Names<'a>,
    pub groups: Names<'a>,
    pub key_shares: KeyShares<'a>,
    pub signature_algorithms: usize,
    pub ech: bool,
    pub sslv2_format: bool,
    pub length: usize,
    pub records: u32,
    pub segments: u32,
    pub acceptable: bool,
}

/// One key share.
#[derive(Serialize)]
pub struct JsonKeyShare {
    pub group: Cow<'static, str>,
    pub bytes: usize,
}

/// The server's hello.
#[derive(Serialize)]
pub struct JsonServerHello<'a> {
    pub version: Cow<'static, str>,
    pub cipher_suite: Cow<'static, str>,
    pub hello_retry_request: bool,
    pub group: Option<Cow<'static, str>>,
    pub alpn: Option<&'a str>,
}

/// One certificate of the server's chain (TLS <= 1.2 only: TLS 1.3 encrypts it).
#[derive(Serialize)]
pub struct JsonCert<'a> {
    pub subject: &'a str,
    pub issuer: &'a str,
    pub not_before: Rfc3339,
    pub not_after: Rfc3339,
    pub san: &'a [String],
}

/// Times.
#[derive(Serialize)]
pub struct JsonTiming {
    pub start: Rfc3339,
    pub end: Rfc3339,
    pub duration_ms: f64,
    pub syn_ack_rtt_ms: Option<f64>,
    pub client_hello_to_decisive_ms: Option<f64>,
}

/// TTL / hop limit of the packets that matter.
#[derive(Serialize)]
pub struct JsonTtl {
    pub client: Option<u8>,
    pub syn_ack: Option<u8>,
    pub decisive: Option<u8>,
}

/// TCP counters.
#[derive(Serialize)]
pub struct JsonTcp {
    pub packets: u64,
    pub syn_count: u32,
    pub duplicates: u64,
    pub to_server: JsonDirection,
    pub to_client: JsonDirection,
}

/// Counters of one direction.
#[derive(Serialize)]
pub struct JsonDirection {
    pub packets: u64,
    pub bytes: u64,
    pub missed_bytes: u64,
    pub retransmissions: u64,
    pub fin: Option<u64>,
    pub rst: Option<u64>,
}

/// The agent endpoint the connection's name is (`verdict::endpoints`).
#[derive(Serialize)]
pub struct JsonEndpoint {
    pub service: &'static str,
    pub role: &'static str,
    pub service_tag: Option<&'static str>,
    pub cloud: Option<&'static str>,
}

/// How a connection whose handshake completed ended afterwards.
#[derive(Serialize)]
pub struct JsonAfterHandshake {
    pub ended: &'static str,
    pub by: Option<&'static str>,
    pub frame: Option<u64>,
    pub after_ms: Option<f64>,
    pub idle_ms: Option<f64>,
    pub finding: Option<&'static str>,
}

/// One piece of evidence.
#[derive(Serialize)]
pub struct JsonEvidence<'a> {
    pub file: &'a str,
    pub frame: u64,
    pub time: Rfc3339,
    pub from: &'static str,
    pub what: &'a str,
    pub why: &'a str,
}

// The line is written by `jsonw` (same bytes as serde_json, several times faster); these list the
// fields in declaration order. `tests::same_bytes_as_serde_json` compares the two on every capture.
write_object!(JsonConnection<'_> {
    "schema" => schema, "type" => kind, "id" => id, "file" => file, "client" => client,
    "server" => server, "outcome" => outcome, "class" => class, "cause" => cause,
    "ended_by" => ended_by, "confidence" => confidence, "explanation" => explanation,
    "reasons" => reasons, "candidates" => candidates, "sni" => sni, "endpoint" => endpoint,
    "alpn" => alpn,
    "tls_version" => tls_version, "cipher_suite" => cipher_suite, "alert" => alert,
    "alert_code" => alert_code, "alert_from" => alert_from, "alerts" => alerts,
    "http_status" => http_status, "proxy" => proxy, "tunnel" => tunnel, "client_hello" => client_hello,
    "server_hello" => server_hello, "certificates" => certificates, "timing" => timing,
    "ttl" => ttl, "tcp" => tcp, "after_handshake" => after_handshake, "evidence" => evidence, "decisive_frame" => decisive_frame,
    "notes" => notes, "wireshark_filter" => wireshark_filter,
});
write_object!(JsonEndpoint {
    "service" => service, "role" => role, "service_tag" => service_tag, "cloud" => cloud,
});
write_object!(JsonAfterHandshake {
    "ended" => ended, "by" => by, "frame" => frame, "after_ms" => after_ms, "idle_ms" => idle_ms,
    "finding" => finding,
});
write_object!(JsonAlert { "from" => from, "level" => level, "name" => name, "code" => code, "frame" => frame });
write_object!(JsonProxy<'_> { "address" => address, "target" => target, "status" => status });
write_object!(JsonTunnel { "kind" => kind, "id" => id, "outer_src" => outer_src, "outer_dst" => outer_dst });
write_object!(JsonClientHello<'_> {
    "versions" => versions, "cipher_suites" => cipher_suites, "groups" => groups,
    "key_shares" => key_shares, "signature_algorithms" => signature_algorithms, "ech" => ech,
    "sslv2_format" => sslv2_format, "length" => length, "records" => records,
    "segments" => segments, "acceptable" => acceptable,
});
write_object!(JsonKeyShare { "group" => group, "bytes" => bytes });
write_object!(JsonServerHello<'_> {
    "version" => version, "cipher_suite" => cipher_suite,
    "hello_retry_request" => hello_retry_request, "group" => group, "alpn" => alpn,
});
write_object!(JsonCert<'_> {
    "subject" => subject, "issuer" => issuer, "not_before" => not_before,
    "not_after" => not_after, "san" => san,
});
write_object!(JsonTiming {
    "start" => start, "end" => end, "duration_ms" => duration_ms,
    "syn_ack_rtt_ms" => syn_ack_rtt_ms, "client_hello_to_decisive_ms" => client_hello_to_decisive_ms,
});
write_object!(JsonTtl { "client" => client, "syn_ack" => syn_ack, "decisive" => decisive });
write_object!(JsonTcp {
    "packets" => packets, "syn_count" => syn_count, "duplicates" => duplicates,
    "to_server" => to_server, "to_client" => to_client,
});
write_object!(JsonDirection {
    "packets" => packets, "bytes" => bytes, "missed_bytes" => missed_bytes,
    "retransmissions" => retransmissions, "fin" => fin, "rst" => rst,
});
write_object!(JsonEvidence<'_> {
    "file" => file, "frame" => frame, "time" => time, "from" => from, "what" => what, "why" => why,
});

// Values written straight from the connection, without an owned `String` or `Vec` per field: each
// serialises as serde_json would serialise the `String` / `Vec<String>` it stands for (the serde side
// builds that value; the direct writer writes the same text in place).

/// A TCP endpoint, `ip:port` or `[v6]:port` ([`endpoint`]).
pub struct Endpoint(pub SocketAddr);

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&endpoint(&self.0))
    }
}

impl WriteJson for Endpoint {
    fn write_json(&self, w: &mut Vec<u8>) {
        w.push(b'"');
        write_endpoint(w, &self.0);
        w.push(b'"');
    }
}

/// A connection's Wireshark display filter ([`wireshark_filter`]).
pub struct WiresharkFilter<'a>(pub &'a Connection);

impl Serialize for WiresharkFilter<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&wireshark_filter(self.0))
    }
}

impl WriteJson for WiresharkFilter<'_> {
    fn write_json(&self, w: &mut Vec<u8>) {
        w.push(b'"');
        write_wireshark_filter(w, self.0);
        w.push(b'"');
    }
}

/// A time, RFC 3339 UTC with nanoseconds ([`time::rfc3339`]).
pub struct Rfc3339(pub Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&time::rfc3339(self.0))
    }
}

impl WriteJson for Rfc3339 {
    fn write_json(&self, w: &mut Vec<u8>) {
        let mut buf = [0u8; 30];
        let n = time::rfc3339_bytes(self.0, &mut buf);
        write_plain(w, buf.get(..n).unwrap_or_default());
    }
}

/// Which table names a list of code points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// [`names::version_str`].
    Version,
    /// [`offer::suite_name`].
    Suite,
    /// [`offer::group_name`].
    Group,
}

impl NameKind {
    /// The code point's name (or its hex value).
    pub fn name(self, code: u16) -> Cow<'static, str> {
        match self {
            NameKind::Version => names::version_str(code),
            NameKind::Suite => offer::suite_name(code),
            NameKind::Group => offer::group_name(code),
        }
    }
}

/// Code points by name, as a list of strings (cipher suites, groups, versions). The names need no
/// escaping (the test `names_need_no_escaping` checks every code point).
pub struct Names<'a> {
    pub codes: &'a [u16],
    pub kind: NameKind,
}

/// Lists longer than this are written every time (a memory entry stays under about 8 KB).
const RENDERED_MAX_CODES: usize = 160;
/// Lists remembered per kind.
const RENDERED_ENTRIES: usize = 8;

/// Lists of code points and their JSON text.
type RenderedLists = Recent<Box<[u16]>, Box<[u8]>>;

thread_local! {
    /// Each kind's recent lists, as written ([`Names::write_json`]).
    static RENDERED: std::cell::RefCell<[RenderedLists; 3]> =
        const { std::cell::RefCell::new([const { Recent::new(RENDERED_ENTRIES) }; 3]) };
}

impl Names<'_> {
    fn write_each(&self, w: &mut Vec<u8>) {
        write_seq(w, self.codes, |w, c| {
            write_plain(w, self.kind.name(*c).as_bytes())
        });
    }
}

impl Serialize for Names<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.codes.iter().map(|c| self.kind.name(*c)))
    }
}

impl WriteJson for Names<'_> {
    /// A client program sends the same lists in every ClientHello (they are its TLS fingerprint),
    /// so the text of each kind's recent lists is remembered by their code points: about 50
    /// instructions to compare against about 100 a name to write (a ClientHello's ~45 names were
    /// 4% of a connection-heavy run). The text depends on the code points alone.
    fn write_json(&self, w: &mut Vec<u8>) {
        let kind = self.kind as usize;
        if self.codes.len() > RENDERED_MAX_CODES {
            return self.write_each(w);
        }
        let hit = RENDERED.with_borrow_mut(|memo| {
            let text = memo.get_mut(kind)?.get(self.codes)?;
            w.extend_from_slice(text);
            Some(())
        });
        if hit.is_some() {
            return;
        }
        let start = w.len();
        self.write_each(w);
        let text: Box<[u8]> = w.get(start..).unwrap_or_default().into();
        RENDERED.with_borrow_mut(|memo| {
            if let Some(m) = memo.get_mut(kind) {
                m.put(self.codes.into(), text);
            }
        });
    }
}

/// Key shares: (group, key exchange length).
pub struct KeyShares<'a>(pub &'a [(u16, usize)]);

impl KeyShares<'_> {
    fn each(&self) -> impl Iterator<Item = JsonKeyShare> + '_ {
        self.0.iter().map(|(g, n)| JsonKeyShare {
            group: offer::group_name(*g),
            bytes: *n,
        })
    }
}

impl Serialize for KeyShares<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.each())
    }
}

impl WriteJson for KeyShares<'_> {
    fn write_json(&self, w: &mut Vec<u8>) {
        write_seq(w, self.each(), |w, k| k.write_json(w));
    }
}

/// The last line.
#[derive(Serialize)]
pub struct JsonSummary<'a> {
    pub schema: u32,
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(flatten)]
    pub counts: JsonCounts,
    pub frames: u64,
    pub tcp_packets: u64,
    pub icmp_errors: u64,
    pub tunneled: u64,
    pub skipped: std::collections::BTreeMap<String, u64>,
    pub evicted_connections: u64,
    pub max_live_connections: usize,
    /// Most bytes buffered for reassembly by all connections at once.
    pub max_buffered_bytes: usize,
    /// Each limit: its value and how often it was hit.
    pub limits: JsonLimits,
    pub inputs: Vec<JsonInput<'a>>,
    /// `as_given`, `reordered` (read one after the other in time order, not as given) or
    /// `interleaved` (inputs overlapped in time: packets merged by timestamp).
    pub input_order: &'static str,
    /// Per server address, failed first ([`super::Summary::servers_by_failures`]).
    pub servers: Vec<JsonServer<'a>>,
    /// Connections to servers beyond the first [`super::MAX_SERVERS`].
    pub servers_omitted: u64,
    /// Failed certificate / revocation fetches together with certificates the client rejected.
    pub revocation_check_blocked: Option<JsonRevocation<'a>>,
}

/// Revocation checks that could not be made ([`super::Revocation`]).
#[derive(Serialize)]
pub struct JsonRevocation<'a> {
    pub fetches_failed: u64,
    pub hosts: &'a [String],
    pub certificates_rejected: u64,
}

/// What the connections to one server address came to.
#[derive(Serialize)]
pub struct JsonServer<'a> {
    pub server: Endpoint,
    pub names: &'a [String],
    pub other_names: u64,
    #[serde(flatten)]
    pub counts: JsonCounts,
    pub pattern: Option<&'static str>,
}

/// Connections by class, outcome and after-handshake finding: the run's, or a server's.
#[derive(Serialize)]
pub struct JsonCounts {
    pub connections: u64,
    pub ok: u64,
    pub failed: u64,
    pub undetermined: u64,
    pub outcomes: std::collections::BTreeMap<&'static str, u64>,
    pub after_handshake: std::collections::BTreeMap<&'static str, u64>,
}

impl JsonCounts {
    fn new(connections: u64, t: &super::Tally) -> Self {
        JsonCounts {
            connections,
            ok: t.ok,
            failed: t.failed,
            undetermined: t.undetermined,
            outcomes: t.outcomes.iter().map(|(k, v)| (k.as_str(), *v)).collect(),
            after_handshake: t
                .after_handshake
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect(),
        }
    }
}

/// A limit's value and how often it was hit.
#[derive(Serialize)]
pub struct JsonLimit {
    pub limit: u64,
    pub hits: u64,
}

/// Every limit, named after its flag.
#[derive(Serialize)]
pub struct JsonLimits {
    /// Hits: connections judged early.
    pub max_connections: JsonLimit,
    /// Hits: times a direction's out-of-order buffer filled (holes skipped).
    pub max_buffer_per_direction: JsonLimit,
    /// Hits: connections that gave up their out-of-order data or were judged early.
    pub max_buffer_total: JsonLimit,
    /// Hits: handshake messages that claimed more.
    pub max_handshake_message: JsonLimit,
    /// Hits: TLS records/messages not kept.
    pub max_events: JsonLimit,
    /// Hits: IP fragments dropped because the pool was full.
    pub max_ip_fragments: JsonLimit,
}

impl JsonLimits {
    fn new(t: &crate::analyze::Totals) -> Self {
        let (l, o) = (&t.limits, &t.options);
        let lim = |limit: usize, hits: u64| JsonLimit {
            limit: limit as u64,
            hits,
        };
        JsonLimits {
            max_connections: lim(o.max_connections, l.connections),
            max_buffer_per_direction: lim(o.max_out_of_order, l.buffer_per_direction),
            max_buffer_total: lim(
                o.max_buffered_total,
                l.buffer_total_released
                    .saturating_add(l.buffer_total_judged),
            ),
            max_handshake_message: lim(o.max_handshake_message, l.handshake_message),
            max_events: lim(o.max_events, l.events),
            max_ip_fragments: lim(o.fragments.max_datagrams, l.fragments),
        }
    }
}

/// One input file.
#[derive(Serialize)]
pub struct JsonInput<'a> {
    pub name: &'a str,
    pub format: &'a str,
    pub link_types: &'a [String],
    pub frames: u64,
    pub warnings: &'a [String],
    pub error: Option<&'a str>,
}

fn ms(ns: u64) -> f64 {
    (ns as f64 / 1e3).round() / 1e3
}

fn epoch(secs: i64) -> Timestamp {
    Timestamp((secs.max(0) as u64).saturating_mul(1_000_000_000))
}

/// Build the wire object of one connection.
pub fn connection<'a>(c: &'a ConnReport<'a>) -> JsonConnection<'a> {
    let conn = c.conn;
    let v = c.verdict;
    let tls = &conn.tls;
    let t = &conn.tcp;
    let ch = tls.client_hello();
    let ch_ev = conn
        .events
        .iter()
        .find(|e| matches!(e.event.kind, crate::tls::TlsEventKind::ClientHello(_)));
    let segments = ch_ev.map_or(0, |e| {
        t.segments_of(Direction::ToServer, e.event.start, e.event.end)
            .count
    });
    let dir = |d: Direction| {
        let s = &t.side[d.index()];
        let a = t.stream_stats(d);
        JsonDirection {
            packets: s.packets,
            bytes: s.payload_bytes,
            missed_bytes: a.missed_bytes,
            retransmissions: a.retransmissions,
            fin: s.first_fin.map(|p| p.at.frame),
            rst: s.first_rst.map(|p| p.at.frame),
        }
    };
    JsonConnection {
        schema: SCHEMA,
        kind: "connection",
        id: conn.id,
        file: c.file_name(t.first.file()),
        client: Endpoint(t.client),
        server: Endpoint(t.server),
        outcome: v.outcome.as_str(),
        class: match v.outcome.class() {
            crate::verdict::OutcomeClass::Ok => "ok",
            crate::verdict::OutcomeClass::Failed => "failed",
            crate::verdict::OutcomeClass::Undetermined => "undetermined",
        },
        cause: v.cause.as_str(),
        ended_by: v.ended_by.as_str(),
        confidence: v.confidence.as_str(),
        explanation: &v.explanation,
        reasons: &v.reasons,
        candidates: v.candidates.iter().map(|c| c.as_str()).collect(),
        sni: ch.and_then(|c| c.sni.as_deref()),
        endpoint: v.endpoint.map(|m| JsonEndpoint {
            service: m.known.service,
            role: m.known.role,
            service_tag: m.known.service_tag,
            cloud: m.cloud,
        }),
        alpn: ch.map_or(&[], |c| c.alpn.as_slice()),
        tls_version: tls.version().map(names::version_str),
        cipher_suite: tls
            .server_hello()
            .map(|s| offer::suite_name(s.cipher_suite)),
        alert: v.alert.as_ref().map(|a| a.name.as_str()),
        alert_code: v.alert.as_ref().and_then(|a| a.code),
        alert_from: v.alert.as_ref().map(|a| a.from.as_str()),
        alerts: conn
            .events
            .iter()
            .filter_map(|e| match &e.event.kind {
                crate::tls::TlsEventKind::Alert(a) => Some(JsonAlert {
                    from: if e.event.dir == Direction::ToServer {
                        "client"
                    } else {
                        "server"
                    },
                    level: match a.level {
                        1 => "warning",
                        2 => "fatal",
                        _ => "unknown",
                    },
                    name: names::alert_name(a.description).map_or_else(
                        || Cow::Owned(format!("alert_{}", a.description)),
                        Cow::Borrowed,
                    ),
                    code: a.description,
                    frame: e.at.frame,
                }),
                _ => None,
            })
            .collect(),
        http_status: v.http_status,
        proxy: tls.connect_request().map(|r| JsonProxy {
            address: Endpoint(t.server),
            target: &r.target,
            status: tls.connect_response().map(|r| r.status),
        }),
        tunnel: conn.tunnel.map(|tn| JsonTunnel {
            kind: tn.kind.as_str(),
            id: tn.id,
            outer_src: tn.outer_src.to_string(),
            outer_dst: tn.outer_dst.to_string(),
        }),
        client_hello: ch.map(|ch| JsonClientHello {
            versions: Names {
                codes: offer::offered_version_codes(ch),
                kind: NameKind::Version,
            },
            cipher_suites: Names {
                codes: &ch.cipher_suites,
                kind: NameKind::Suite,
            },
            groups: Names {
                codes: &ch.groups,
                kind: NameKind::Group,
            },
            key_shares: KeyShares(&ch.key_shares),
            signature_algorithms: ch.signature_algorithms.len(),
            ech: ch.ech,
            sslv2_format: ch.sslv2_format,
            length: ch.message_len,
            records: ch.records,
            segments,
            acceptable: offer::acceptable(ch),
        }),
        server_hello: tls
            .server_hello()
            .or(tls.hello_retry())
            .map(|sh| JsonServerHello {
                version: names::version_str(sh.version()),
                cipher_suite: offer::suite_name(sh.cipher_suite),
                hello_retry_request: sh.hello_retry_request || tls.hello_retry().is_some(),
                group: sh.key_share_group.map(offer::group_name),
                alpn: sh.alpn.as_deref(),
            }),
        certificates: tls
            .certificates()
            .iter()
            .map(|c| JsonCert {
                subject: &c.subject,
                issuer: &c.issuer,
                not_before: Rfc3339(epoch(c.not_before)),
                not_after: Rfc3339(epoch(c.not_after)),
                san: &c.san,
            })
            .collect(),
        timing: JsonTiming {
            start: Rfc3339(t.first.ts),
            end: Rfc3339(t.last.ts),
            duration_ms: ms(t.last.ts.since(t.first.ts)),
            syn_ack_rtt_ms: v.syn_ack_rtt_ns.map(ms),
            client_hello_to_decisive_ms: v.client_hello_to_decisive_ns.map(ms),
        },
        ttl: JsonTtl {
            client: v.ttl_client,
            syn_ack: v.ttl_syn_ack,
            decisive: v.ttl_decisive,
        },
        tcp: JsonTcp {
            packets: t.packets,
            syn_count: t.syn_count,
            duplicates: t.duplicates,
            to_server: dir(Direction::ToServer),
            to_client: dir(Direction::ToClient),
        },
        after_handshake: v.after_handshake.as_ref().map(|a| JsonAfterHandshake {
            ended: a.ended.as_str(),
            by: a.by.map(|p| p.as_str()),
            frame: a.at.map(|at| at.frame),
            after_ms: a.after_ns.map(ms),
            idle_ms: a.idle_ns.map(ms),
            finding: a.finding.map(|f| f.as_str()),
        }),
        evidence: v
            .evidence
            .iter()
            .map(|e| JsonEvidence {
                file: c.file_name(e.at.file()),
                frame: e.at.frame,
                time: Rfc3339(e.at.ts),
                from: e.from.as_str(),
                what: &e.what,
                why: &e.why,
            })
            .collect(),
        decisive_frame: v.decisive.map(|d| d.frame),
        notes: &v.notes,
        wireshark_filter: WiresharkFilter(conn),
    }
}

/// How every connection line starts, up to its `id` value (the first three fields are fixed).
const LINE_START: &[u8] = b"{\"schema\":1,\"type\":\"connection\",\"id\":";

/// A connection's JSON line from just after its `id` value to the end of the object (no newline),
/// for [`ConnReport::json_tail`]: rendered by an analysis thread, before the connection's final id
/// is known. `tests::same_bytes_as_serde_json` checks that the start, the id and the tail make the line.
pub fn render_tail(c: &ConnReport<'_>) -> Vec<u8> {
    let mut w = Vec::with_capacity(4096);
    connection(c).write_json(&mut w);
    let digits = w
        .iter()
        .skip(LINE_START.len())
        .take_while(|b| b.is_ascii_digit())
        .count();
    // In place: the start and the id go, the rest moves down (no second buffer).
    w.drain(..LINE_START.len().saturating_add(digits).min(w.len()));
    w
}

/// JSON lines printer.
pub struct JsonLinesReport<W: Write> {
    out: W,
    /// One line is serialised here and written at once: serde_json writes piece by piece, and
    /// every piece through the output's `Write` costs more than the copy.
    line: Vec<u8>,
}

impl<W: Write> JsonLinesReport<W> {
    /// Print to `out`.
    pub fn new(out: W) -> Self {
        JsonLinesReport {
            out,
            line: Vec::with_capacity(8192),
        }
    }
}

impl<W: Write> ReportSink for JsonLinesReport<W> {
    fn wants_json(&self) -> bool {
        true
    }

    fn json_only(&self) -> bool {
        true
    }

    fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
        Ok(())
    }

    fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
        self.line.clear();
        match c.json_tail {
            Some(tail) => {
                self.line.extend_from_slice(LINE_START);
                c.conn.id.write_json(&mut self.line);
                self.line.extend_from_slice(tail);
            }
            None => connection(c).write_json(&mut self.line),
        }
        self.line.push(b'\n');
        self.out.write_all(&self.line)
    }

    fn finish(&mut self, s: &Summary) -> io::Result<()> {
        let summary = JsonSummary {
            schema: SCHEMA,
            kind: "summary",
            counts: JsonCounts::new(s.totals.connections, &s.counts),
            frames: s.totals.frames,
            tcp_packets: s.totals.tcp_packets,
            icmp_errors: s.totals.icmp_errors,
            tunneled: s.totals.tunneled,
            skipped: s
                .totals
                .skipped
                .iter()
                .map(|(k, v)| (super::text::skip_name(*k), *v))
                .collect(),
            evicted_connections: s.totals.evicted,
            max_live_connections: s.totals.max_live_connections,
            max_buffered_bytes: s.totals.max_buffered,
            limits: JsonLimits::new(&s.totals),
            inputs: s
                .inputs
                .iter()
                .map(|i| JsonInput {
                    name: &i.name,
                    format: &i.format,
                    link_types: &i.link_types,
                    frames: i.frames,
                    warnings: &i.warnings,
                    error: i.error.as_deref(),
                })
                .collect(),
            input_order: s.input_order.as_str(),
            servers: s
                .servers_by_failures()
                .into_iter()
                .map(|(addr, t)| JsonServer {
                    server: Endpoint(*addr),
                    names: &t.names,
                    other_names: t.other_names,
                    counts: JsonCounts::new(t.counts.connections, &t.counts),
                    pattern: t.pattern().map(|p| p.as_str()),
                })
                .collect(),
            servers_omitted: s.servers_omitted,
            revocation_check_blocked: s.revocation.blocked().then(|| JsonRevocation {
                fetches_failed: s.revocation.fetches_failed,
                hosts: &s.revocation.hosts,
                certificates_rejected: s.revocation.certificates_rejected,
            }),
        };
        serde_json::to_writer(&mut self.out, &summary)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compares the direct writer with serde_json for every connection of a capture.
    struct Compare {
        lines: usize,
    }

    impl ReportSink for Compare {
        fn begin(&mut self, _inputs: &[String]) -> io::Result<()> {
            Ok(())
        }
        fn connection(&mut self, c: &ConnReport<'_>) -> io::Result<()> {
            let j = connection(c);
            let mut ours = Vec::new();
            j.write_json(&mut ours);
            let theirs = serde_json::to_vec(&j)?;
            assert!(theirs.starts_with(LINE_START));
            // What `--threads` prints: the fixed start, the id, the tail rendered ahead.
            let mut spliced = LINE_START.to_vec();
            c.conn.id.write_json(&mut spliced);
            spliced.extend_from_slice(&render_tail(c));
            assert!(spliced == theirs, "tail and id do not make the line");
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs)
            );
            self.lines += 1;
            Ok(())
        }
        fn finish(&mut self, _s: &Summary) -> io::Result<()> {
            Ok(())
        }
    }

    /// [`Names`] and [`Rfc3339`] write without escaping: every code point's name needs none.
    #[test]
    fn names_need_no_escaping() {
        for code in 0..=u16::MAX {
            for name in [
                offer::suite_name(code),
                offer::group_name(code),
                names::version_str(code),
            ] {
                assert!(
                    !super::super::jsonw::needs_escape(name.as_bytes()),
                    "{code:#06x} {name:?}"
                );
            }
        }
    }

    /// Lists written from memory are the lists written afresh, whatever came before: the same
    /// codes as another kind, one code changed, a prefix, more lists than are remembered, and lists
    /// too long to remember.
    #[test]
    fn remembered_lists_are_the_same() {
        let base: Vec<u16> = vec![
            0x1301, 0x1302, 0x0a0a, 0xc02f, 0x001d, 0x0304, 0x0303, 0xfafa,
        ];
        let mut lists = vec![base.clone(), base[..3].to_vec(), Vec::new()];
        for i in 0..base.len() {
            let mut l = base.clone();
            l[i] ^= 1;
            lists.push(l);
        }
        for n in 0..12u16 {
            lists.push((0..n).map(|k| k.wrapping_mul(0x1111)).collect());
        }
        lists.push((0..=RENDERED_MAX_CODES as u16 + 5).collect());
        for round in 0..3 {
            for codes in lists.iter().chain(lists.iter().rev()) {
                for kind in [NameKind::Version, NameKind::Suite, NameKind::Group] {
                    let n = Names { codes, kind };
                    let mut w = Vec::new();
                    n.write_json(&mut w);
                    let want = serde_json::to_vec(&n).expect("serializes");
                    assert_eq!(w, want, "round {round}, {kind:?} {codes:04x?}");
                }
            }
        }
    }

    /// The shipped captures and the peers corpus (certificate names, HTTP lines and excerpts with
    /// quotes, backslashes, control characters and non-ASCII text).
    #[test]
    fn same_bytes_as_serde_json() {
        let files = crate::capture::testutil::all_capture_files();
        assert!(files.len() >= 40, "captures not found");
        let mut sink = Compare { lines: 0 };
        for f in &files {
            let name = f.to_string_lossy().into_owned();
            let r = crate::run::run(&[name], crate::analyze::Options::default(), &mut sink);
            assert!(r.is_ok(), "{}", f.display());
        }
        eprintln!("{} files, {} connections compared", files.len(), sink.lines);
        assert!(sink.lines > 100, "only {} connections compared", sink.lines);
    }
}
