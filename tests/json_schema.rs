//! The JSON schema of docs/json-schema.md, re-declared with `deny_unknown_fields`, parses every line
//! the analyzer prints for every shipped capture: the document and the code cannot drift apart.

mod common;

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Connection {
    schema: u32,
    #[serde(rename = "type")]
    kind: String,
    id: u64,
    file: String,
    client: String,
    server: String,
    outcome: String,
    class: String,
    cause: String,
    ended_by: String,
    confidence: String,
    explanation: String,
    reasons: Vec<String>,
    candidates: Vec<String>,
    sni: Option<String>,
    endpoint: Option<KnownEndpoint>,
    alpn: Vec<String>,
    tls_version: Option<String>,
    cipher_suite: Option<String>,
    alert: Option<String>,
    alert_code: Option<u8>,
    alert_from: Option<String>,
    alerts: Vec<Alert>,
    http_status: Option<u16>,
    proxy: Option<Proxy>,
    tunnel: Option<Tunnel>,
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    certificates: Vec<Cert>,
    timing: Timing,
    ttl: Ttl,
    tcp: Tcp,
    after_handshake: Option<AfterHandshake>,
    evidence: Vec<Evidence>,
    decisive_frame: Option<u64>,
    notes: Vec<String>,
    wireshark_filter: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KnownEndpoint {
    service: String,
    role: String,
    service_tag: Option<String>,
    cloud: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AfterHandshake {
    ended: Ending,
    by: Option<Party>,
    frame: Option<u64>,
    after_ms: Option<f64>,
    idle_ms: Option<f64>,
    finding: Option<Finding>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum Ending {
    Closed,
    Reset,
    Open,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Party {
    Client,
    Server,
    Middlebox,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum Finding {
    IdleReset,
    MiddleboxReset,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Alert {
    from: String,
    level: String,
    name: String,
    code: u8,
    frame: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Tunnel {
    kind: String,
    id: Option<u32>,
    outer_src: String,
    outer_dst: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Proxy {
    address: String,
    target: String,
    status: Option<u16>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ClientHello {
    versions: Vec<String>,
    cipher_suites: Vec<String>,
    groups: Vec<String>,
    key_shares: Vec<KeyShare>,
    signature_algorithms: usize,
    ech: bool,
    sslv2_format: bool,
    length: usize,
    records: u32,
    segments: u32,
    acceptable: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct KeyShare {
    group: String,
    bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServerHello {
    version: String,
    cipher_suite: String,
    hello_retry_request: bool,
    group: Option<String>,
    alpn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Cert {
    subject: String,
    issuer: String,
    not_before: String,
    not_after: String,
    san: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Timing {
    start: String,
    end: String,
    duration_ms: f64,
    syn_ack_rtt_ms: Option<f64>,
    client_hello_to_decisive_ms: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Ttl {
    client: Option<u8>,
    syn_ack: Option<u8>,
    decisive: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Tcp {
    packets: u64,
    syn_count: u32,
    duplicates: u64,
    to_server: Dir,
    to_client: Dir,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Dir {
    packets: u64,
    bytes: u64,
    missed_bytes: u64,
    retransmissions: u64,
    fin: Option<u64>,
    rst: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Evidence {
    file: String,
    frame: u64,
    time: String,
    from: String,
    what: String,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Summary {
    schema: u32,
    #[serde(rename = "type")]
    kind: String,
    connections: u64,
    ok: u64,
    failed: u64,
    undetermined: u64,
    outcomes: std::collections::BTreeMap<String, u64>,
    after_handshake: std::collections::BTreeMap<String, u64>,
    frames: u64,
    tcp_packets: u64,
    tunneled: u64,
    icmp_errors: u64,
    skipped: std::collections::BTreeMap<String, u64>,
    evicted_connections: u64,
    max_live_connections: usize,
    max_buffered_bytes: usize,
    limits: Limits,
    inputs: Vec<Input>,
    input_order: InputOrder,
    servers: Vec<Server>,
    servers_omitted: u64,
    revocation_check_blocked: Option<Revocation>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Revocation {
    fetches_failed: u64,
    hosts: Vec<String>,
    certificates_rejected: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Server {
    server: String,
    names: Vec<String>,
    other_names: u64,
    connections: u64,
    ok: u64,
    failed: u64,
    undetermined: u64,
    outcomes: std::collections::BTreeMap<String, u64>,
    after_handshake: std::collections::BTreeMap<String, u64>,
    pattern: Option<ServerPattern>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum ServerPattern {
    IntermittentSynFailures,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
enum InputOrder {
    AsGiven,
    Reordered,
    Interleaved,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Limits {
    max_connections: Limit,
    max_buffer_per_direction: Limit,
    max_buffer_total: Limit,
    max_handshake_message: Limit,
    max_events: Limit,
    max_ip_fragments: Limit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Limit {
    limit: u64,
    hits: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Input {
    name: String,
    format: String,
    link_types: Vec<String>,
    frames: u64,
    warnings: Vec<String>,
    error: Option<String>,
}

const OUTCOMES: [&str; 17] = [
    "handshake_complete",
    "cleartext",
    "syn_unanswered",
    "syn_rejected",
    "syn_unreachable",
    "no_client_hello",
    "reset_after_client_hello",
    "closed_after_client_hello",
    "silence_after_client_hello",
    "server_alert",
    "client_alert",
    "server_not_tls",
    "aborted_after_server_hello",
    "http_blocked",
    "proxy_refused",
    "in_progress",
    "midstream",
];

#[test]
fn every_line_matches_the_documented_schema() {
    let files = common::shipped_captures();
    assert!(!files.is_empty());
    let doc =
        std::fs::read_to_string(common::root().join("docs/verdicts.md")).expect("docs/verdicts.md");
    let mut lines = 0;
    for f in &files {
        let run = common::analyze_json(&[f], &[]);
        for line in run.stdout.lines() {
            lines += 1;
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
            match v["type"].as_str() {
                Some("connection") => {
                    let c: Connection = serde_json::from_str(line).unwrap_or_else(|e| {
                        panic!(
                            "{}: connection line does not match the schema: {e}\n{line}",
                            f.display()
                        )
                    });
                    assert_eq!(c.schema, 1);
                    assert_eq!(
                        c.after_handshake.is_some(),
                        c.outcome == "handshake_complete",
                        "{}: after_handshake is for completed handshakes only\n{line}",
                        f.display()
                    );
                    if let Some(a) = &c.after_handshake {
                        assert_eq!(a.by.is_none(), a.ended == Ending::Open, "{line}");
                        assert_eq!(a.frame.is_none(), a.ended == Ending::Open, "{line}");
                    }
                    assert!(
                        OUTCOMES.contains(&c.outcome.as_str()),
                        "undocumented outcome {}",
                        c.outcome
                    );
                    assert!(
                        doc.contains(&format!("`{}`", c.cause)),
                        "cause {} not in docs/verdicts.md",
                        c.cause
                    );
                    assert!(
                        doc.contains(&format!("`{}`", c.outcome)),
                        "outcome {} not in docs/verdicts.md",
                        c.outcome
                    );
                }
                Some("summary") => {
                    let s: Summary = serde_json::from_str(line).unwrap_or_else(|e| {
                        panic!(
                            "{}: summary line does not match the schema: {e}\n{line}",
                            f.display()
                        )
                    });
                    assert_eq!(s.schema, 1);
                    // Every connection is counted once, per server or as omitted.
                    let per_server: u64 = s.servers.iter().map(|t| t.connections).sum();
                    assert_eq!(per_server + s.servers_omitted, s.connections, "{line}");
                    for t in &s.servers {
                        assert_eq!(t.ok + t.failed + t.undetermined, t.connections, "{line}");
                        assert!(t.names.len() <= 4, "{line}");
                    }
                }
                other => panic!("unknown type {other:?}"),
            }
        }
    }
    assert!(lines > files.len());
}
