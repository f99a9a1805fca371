//! Agreement with Zeek: for every Zeek trace in ../shared/corpus/peers/zeek that has an ssl.log-style
//! baseline (ssl.log, ssl-out.log, ssl-all.log block k/n, ssl.cut, ...), Zeek's rows are compared per
//! connection with our JSON:
//!
//! - `established` T  <=> our `outcome` is `handshake_complete`;
//! - `last_alert` (the last plaintext alert, either direction) <=> the last entry of our `alerts`;
//! - `server_name` <=> our `sni`;
//!
//! and every connection where we parsed a ClientHello must have a Zeek row. Which baseline (and which
//! block of a multi-trace log) belongs to which trace is read from the corpus's PROVENANCE.md. Each
//! disagreement must be listed in [`EXCEPTIONS`] with the reason; a listed exception that no longer
//! disagrees fails the test too, so the table stays true. docs/zeek-comparison.md has the results.
//! The corpus is read in place; without it the tests print "skipped".

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::Value;

const ZEEK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/peers/zeek");

/// A documented disagreement: trace file, our `client` field, what differs (`established`,
/// `last_alert`, `server_name`, or `row` for a connection only one side reports), and why.
struct Exception {
    trace: &'static str,
    client: &'static str,
    field: &'static str,
    reason: &'static str,
}

/// Every disagreement with Zeek that is not fixed, with the reason (see docs/zeek-comparison.md).
/// Empty: every compared connection agrees.
const EXCEPTIONS: &[Exception] = &[];

fn zeek_dir() -> Option<PathBuf> {
    let p = PathBuf::from(ZEEK);
    p.join("PROVENANCE.md").is_file().then_some(p)
}

/// One ssl.log-style baseline of a trace: `expected/<test-id>/<file>`, and the block (k of n) when the
/// test ran Zeek over several traces and concatenated the logs.
#[derive(Debug, Clone)]
struct Baseline {
    trace: String,
    file: String,
    block: Option<(usize, usize)>,
}

/// The "## Captures" table of PROVENANCE.md: `| traces/X | ... | <expected outputs> |`, where the
/// last cell lists `` `orig` -> `expected/<id>/` (file, file) block k/n `` entries separated by `<br>`.
fn baselines(provenance: &str) -> Vec<Baseline> {
    let mut out = Vec::new();
    for line in provenance.lines() {
        let Some(rest) = line.strip_prefix("| `traces/") else {
            continue;
        };
        let Some((trace, _)) = rest.split_once('`') else {
            continue;
        };
        let cells: Vec<&str> = line.trim_end_matches('|').split(" | ").collect();
        let Some(expected) = cells.last() else {
            continue;
        };
        for entry in expected.split("<br>") {
            let Some((_, after)) = entry.split_once("-> `expected/") else {
                continue;
            };
            let Some((dir, after)) = after.split_once('`') else {
                continue;
            };
            let Some((files, after)) = after.split_once('(').and_then(|(_, a)| a.split_once(')'))
            else {
                continue;
            };
            let block = after.trim().strip_prefix("block ").and_then(|b| {
                let (k, n) = b.trim().split_once('/')?;
                Some((k.trim().parse().ok()?, n.trim().parse().ok()?))
            });
            for f in files.split(',').map(str::trim) {
                if f.starts_with("ssl") && (f.ends_with(".log") || f.ends_with(".cut")) {
                    out.push(Baseline {
                        trace: trace.to_string(),
                        file: format!("{}/{f}", dir.trim_end_matches('/')),
                        block,
                    });
                }
            }
        }
    }
    out
}

type Row = HashMap<String, String>;

/// The rows of a Zeek log (`#fields` header, tab-separated; `.cut` files have a plain header line
/// instead), only those of block `k` when given. Also returns the `#file` annotation of that block
/// when the log has one, and the number of blocks.
fn zeek_rows(text: &str, block: Option<usize>) -> (Vec<Row>, Option<String>, usize) {
    let mut rows = Vec::new();
    let mut fields: Option<Vec<String>> = None;
    let mut blocks = 0usize;
    let mut pending_file = None;
    let mut file_of_block = None;
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#file ") {
            pending_file = Some(f.trim().to_string());
            continue;
        }
        if line.starts_with("#separator") {
            blocks += 1;
            fields = None;
            if block == Some(blocks) {
                file_of_block = pending_file.take();
            }
            pending_file = None;
            continue;
        }
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = Some(f.split('\t').map(str::to_string).collect());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let Some(names) = &fields else {
            // A .cut file: its first line names the columns.
            fields = Some(line.split('\t').map(str::to_string).collect());
            continue;
        };
        if block.is_some_and(|k| k != blocks) {
            continue;
        }
        rows.push(
            names
                .iter()
                .cloned()
                .zip(line.split('\t').map(str::to_string))
                .collect(),
        );
    }
    (rows, file_of_block, blocks.max(1))
}

/// "ip:port" or "[v6]:port".
fn endpoint(s: &str) -> (IpAddr, u16) {
    let (ip, port) = s
        .rsplit_once(':')
        .unwrap_or_else(|| panic!("bad endpoint {s}"));
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    (
        ip.parse().unwrap_or_else(|_| panic!("bad address {s}")),
        port.parse().unwrap_or_else(|_| panic!("bad port {s}")),
    )
}

fn row_matches(row: &Row, conn: &Value) -> bool {
    let (cip, cport) = endpoint(conn["client"].as_str().unwrap_or_default());
    let (sip, sport) = endpoint(conn["server"].as_str().unwrap_or_default());
    let ip = |k: &str| row.get(k).and_then(|v| v.parse::<IpAddr>().ok());
    let port = |k: &str| row.get(k).and_then(|v| v.parse::<u16>().ok());
    ip("id.orig_h") == Some(cip)
        && ip("id.resp_h") == Some(sip)
        && port("id.resp_p") == Some(sport)
        // Some .cut baselines leave the client port out.
        && row.get("id.orig_p").is_none_or(|_| port("id.orig_p") == Some(cport))
}

/// Our values of the compared fields, in Zeek's notation.
fn ours(conn: &Value) -> HashMap<&'static str, String> {
    let established = if conn["outcome"] == "handshake_complete" {
        "T"
    } else {
        "F"
    };
    let last_alert = conn["alerts"]
        .as_array()
        .and_then(|a| a.last())
        .and_then(|a| a["name"].as_str())
        .unwrap_or("-")
        .to_string();
    let sni = conn["sni"].as_str().unwrap_or("-").to_string();
    HashMap::from([
        ("established", established.to_string()),
        ("last_alert", last_alert),
        ("server_name", sni),
    ])
}

const FIELDS: [&str; 3] = ["established", "last_alert", "server_name"];

struct Disagreement {
    trace: String,
    client: String,
    field: String,
    zeek: String,
    ours: String,
    baseline: String,
}

impl std::fmt::Display for Disagreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}: Zeek {} / ours {} [{}]",
            self.trace, self.client, self.field, self.zeek, self.ours, self.baseline
        )
    }
}

#[test]
fn ssl_logs_agree_with_zeek() {
    let Some(zeek) = zeek_dir() else {
        eprintln!("skipped: ../shared/corpus/peers/zeek not present");
        return;
    };
    let provenance =
        std::fs::read_to_string(zeek.join("PROVENANCE.md")).expect("read PROVENANCE.md");
    let all = baselines(&provenance);
    let traces: BTreeSet<&str> = all.iter().map(|b| b.trace.as_str()).collect();
    assert!(
        traces.len() >= 29,
        "PROVENANCE.md lists ssl.log baselines for only {} traces: {traces:?}",
        traces.len()
    );

    let mut disagreements = Vec::new();
    let mut compared = 0usize;
    let mut agreed = 0usize;
    let mut report = Vec::new();
    for trace in &traces {
        let path = zeek.join("traces").join(trace);
        let run = common::analyze_json(&[path.as_path()], &["--all"]);
        assert!(
            matches!(run.status, 0 | 1),
            "{trace}: exit {} {}",
            run.status,
            run.stderr
        );
        let mut matched: BTreeSet<String> = BTreeSet::new();
        for b in all.iter().filter(|b| b.trace == *trace) {
            let text = std::fs::read_to_string(zeek.join("expected").join(&b.file))
                .unwrap_or_else(|e| panic!("{}: {e}", b.file));
            let (rows, file_note, blocks) = zeek_rows(&text, b.block.map(|(k, _)| k));
            if let Some((k, n)) = b.block {
                assert_eq!(
                    blocks, n,
                    "{}: PROVENANCE.md says block {k}/{n}, the log has {blocks} blocks",
                    b.file
                );
            }
            if let Some(f) = file_note {
                assert_eq!(
                    &f, trace,
                    "{} block {:?} is annotated #file {f}",
                    b.file, b.block
                );
            }
            let where_ = match b.block {
                Some((k, n)) => format!("{} (block {k}/{n})", b.file),
                None => b.file.clone(),
            };
            if rows.first().is_none_or(|r| !r.contains_key("id.resp_h")) {
                // e.g. ssl-max-history-length-*.log: uid and history only.
                report.push(format!(
                    "{trace}: {where_}: no addressed rows, not comparable"
                ));
                continue;
            }
            for row in &rows {
                let hits: Vec<&Value> = run
                    .connections
                    .iter()
                    .filter(|c| row_matches(row, c))
                    .collect();
                let zeek_client = format!(
                    "{}:{}",
                    row.get("id.orig_h").map_or("?", String::as_str),
                    row.get("id.orig_p").map_or("?", String::as_str)
                );
                let [conn] = hits.as_slice() else {
                    disagreements.push(Disagreement {
                        trace: trace.to_string(),
                        client: zeek_client,
                        field: "row".into(),
                        zeek: "logged".into(),
                        ours: format!("{} matching connections", hits.len()),
                        baseline: where_.clone(),
                    });
                    continue;
                };
                let client = conn["client"].as_str().unwrap_or_default().to_string();
                matched.insert(client.clone());
                let mine = ours(conn);
                compared += 1;
                let mut all_same = true;
                let mut cells = Vec::new();
                for f in FIELDS {
                    let Some(z) = row.get(f) else {
                        cells.push(format!("{f} (not in log) / {}", mine[f]));
                        continue;
                    };
                    cells.push(format!("{f} {z} / {}", mine[f]));
                    if *z != mine[f] {
                        all_same = false;
                        disagreements.push(Disagreement {
                            trace: trace.to_string(),
                            client: client.clone(),
                            field: f.into(),
                            zeek: z.clone(),
                            ours: mine[f].clone(),
                            baseline: where_.clone(),
                        });
                    }
                }
                if all_same {
                    agreed += 1;
                }
                report.push(format!(
                    "{trace} {client} [{where_}]: {} (outcome {})",
                    cells.join(", "),
                    conn["outcome"].as_str().unwrap_or_default()
                ));
            }
        }
        // TLS we parsed that Zeek did not log.
        for c in &run.connections {
            let client = c["client"].as_str().unwrap_or_default();
            if !c["client_hello"].is_null() && !matched.contains(client) {
                disagreements.push(Disagreement {
                    trace: trace.to_string(),
                    client: client.to_string(),
                    field: "row".into(),
                    zeek: "no row".into(),
                    ours: format!(
                        "ClientHello parsed, outcome {}",
                        c["outcome"].as_str().unwrap_or_default()
                    ),
                    baseline: "-".into(),
                });
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    eprintln!(
        "{} traces, {compared} Zeek rows compared, {agreed} agree on every field",
        traces.len()
    );

    let mut used = vec![false; EXCEPTIONS.len()];
    let mut undocumented = Vec::new();
    for d in &disagreements {
        match EXCEPTIONS
            .iter()
            .position(|e| e.trace == d.trace && e.client == d.client && e.field == d.field)
        {
            Some(i) => {
                used[i] = true;
                eprintln!("documented: {d}: {}", EXCEPTIONS[i].reason);
            }
            None => undocumented.push(d.to_string()),
        }
    }
    let stale: Vec<String> = EXCEPTIONS
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(e, _)| format!("{} {} {}: {}", e.trace, e.client, e.field, e.reason))
        .collect();
    assert!(
        undocumented.is_empty(),
        "undocumented disagreements with Zeek:\n{}",
        undocumented.join("\n")
    );
    assert!(
        stale.is_empty(),
        "documented exceptions that no longer disagree (remove them):\n{}",
        stale.join("\n")
    );
    assert!(compared >= 51, "only {compared} Zeek rows were compared");
}

/// STARTTLS and friends, through the whole pipeline: the handshake is found where tshark (told the
/// port is TLS) finds it, and judged complete, as Zeek logs it (established T).
#[test]
fn late_tls_captures_are_judged_on_their_tls() {
    let Some(zeek) = zeek_dir() else {
        eprintln!("skipped: ../shared/corpus/peers/zeek not present");
        return;
    };
    // (trace, ClientHello frame, ServerHello frame, version, SNI)
    let cases: [(&str, u64, u64, &str, Option<&str>); 7] = [
        ("smtp-starttls.pcap", 13, 14, "TLS 1.2", None),
        ("imap-starttls.pcap", 14, 15, "TLS 1.2", None),
        ("pop3-starttls.pcap", 11, 13, "TLS 1.2", None),
        ("irc-starttls.pcap", 8, 10, "TLS 1.2", None),
        ("ftp-auth-tls.pcap", 22, 23, "TLS 1.3", Some("127.0.0.1")),
        (
            "ldap-starttls.pcap",
            8,
            9,
            "TLS 1.3",
            Some("ubuntu-01.example.com"),
        ),
        (
            "psql-aws-ssl-require.pcap",
            8,
            9,
            "TLS 1.2",
            Some("database-1.cyx4x7yvdoay.us-east-1.rds.amazonaws.com"),
        ),
    ];
    for (trace, ch, sh, version, sni) in cases {
        let path: PathBuf = zeek.join("traces").join(trace);
        let run = common::analyze_json(&[Path::new(&path)], &["--all"]);
        let [c] = run.connections.as_slice() else {
            panic!("{trace}: {} connections", run.connections.len());
        };
        assert_eq!(
            c["outcome"], "handshake_complete",
            "{trace}: {}",
            c["explanation"]
        );
        assert_eq!(c["tls_version"], version, "{trace}");
        assert_eq!(c["sni"].as_str(), sni, "{trace}");
        let frame_of = |what: &str| {
            c["evidence"]
                .as_array()
                .and_then(|ev| {
                    ev.iter()
                        .find(|e| e["what"].as_str().is_some_and(|w| w.starts_with(what)))
                })
                .and_then(|e| e["frame"].as_u64())
        };
        assert_eq!(
            frame_of("ClientHello"),
            Some(ch),
            "{trace}: ClientHello frame"
        );
        assert_eq!(
            frame_of("ServerHello"),
            Some(sh),
            "{trace}: ServerHello frame"
        );
    }
}

/// The first `frames` records of a little-endian classic pcap file.
fn pcap_prefix(bytes: &[u8], frames: usize) -> Vec<u8> {
    assert_eq!(
        bytes.get(..4),
        Some(&[0xd4, 0xc3, 0xb2, 0xa1][..]),
        "not a little-endian pcap"
    );
    let mut end = 24;
    for _ in 0..frames {
        let incl =
            u32::from_le_bytes(bytes[end + 8..end + 12].try_into().expect("4 bytes")) as usize;
        end += 16 + incl;
    }
    bytes[..end].to_vec()
}

/// A STARTTLS handshake the capture cut short is judged on its TLS: the server's plaintext from before
/// the ClientHello (the "220 Ready to start TLS" banner, PostgreSQL's 'S') is not an answer to it.
#[test]
fn starttls_cut_short_is_not_server_not_tls() {
    let Some(zeek) = zeek_dir() else {
        eprintln!("skipped: ../shared/corpus/peers/zeek not present");
        return;
    };
    let dir = std::env::temp_dir().join(format!("tlsautopsy-zeek-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    // (trace, frames kept: up to the ClientHello, then up to the server's first flight)
    for (trace, frames, server_hello) in [
        ("smtp-starttls.pcap", 13, false),
        ("smtp-starttls.pcap", 16, true),
        ("psql-aws-ssl-require.pcap", 8, false),
        ("psql-aws-ssl-require.pcap", 14, true),
    ] {
        let bytes = std::fs::read(zeek.join("traces").join(trace)).expect("read trace");
        let cut = dir.join(format!("{frames}-{trace}"));
        std::fs::write(&cut, pcap_prefix(&bytes, frames)).expect("write cut");
        let run = common::analyze_json(&[cut.as_path()], &["--all"]);
        let [c] = run.connections.as_slice() else {
            panic!("{trace}/{frames}: {} connections", run.connections.len());
        };
        assert_eq!(
            c["outcome"], "in_progress",
            "{trace}/{frames}: {}",
            c["explanation"]
        );
        assert_eq!(
            c["tls_version"].is_null(),
            !server_hello,
            "{trace}/{frames}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
