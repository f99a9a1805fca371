//! `tlsautopsy live` on a real interface: the loopback of a network namespace each test creates, with
//! real clients and servers (openssl, curl, python3; nftables for the flood). Asserts the verdicts
//! `live --json` prints and how soon after each event they arrive.
//!
//! Needs root (CI runs as root). Otherwise each test prints "skipped: needs root" and passes. All
//! traffic stays inside the namespaces created here; every wait is bounded; only the processes
//! started here are stopped, by PID.
#![cfg(all(feature = "live", target_os = "linux"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tlsautopsy");

use common::{cannot_run as cannot_run_as, python, Netns, Procs};

/// Why this machine cannot run the test (as root, with `tools`), if it cannot.
fn cannot_run(tools: &[&str]) -> Option<String> {
    cannot_run_as(tools, true)
}

/// Run a client to completion, at most `secs` (then kill it).
fn run_client(mut c: Command, secs: u64) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let _ = child.wait();
}

enum Line {
    Out(SystemTime, Value),
    Err(String),
    Eof,
}

/// `tlsautopsy live` running in a namespace, its output read line by line as it arrives.
struct Live {
    child: Child,
    rx: Receiver<Line>,
    stderr: String,
    stdout_done: bool,
}

impl Live {
    fn start(ns: &Netns, args: &[&str]) -> Live {
        let mut child = ns
            .cmd(BIN)
            .arg("live")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        let tx2 = tx.clone();
        thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
                if tx2.send(Line::Out(SystemTime::now(), v)).is_err() {
                    break;
                }
            }
            let _ = tx2.send(Line::Eof);
        });
        let err = child.stderr.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if tx.send(Line::Err(line)).is_err() {
                    break;
                }
            }
        });
        let mut live = Live {
            child,
            rx,
            stderr: String::new(),
            stdout_done: false,
        };
        // Ready once it says it is capturing (every interface open, filter set).
        let deadline = Instant::now() + Duration::from_secs(20);
        while !live.stderr.contains("capturing on") {
            let left = deadline.saturating_duration_since(Instant::now());
            match live.rx.recv_timeout(left) {
                Ok(Line::Err(l)) => {
                    live.stderr.push_str(&l);
                    live.stderr.push('\n');
                }
                Ok(Line::Out(_, v)) => panic!("output before capturing: {v}"),
                Ok(Line::Eof) | Err(_) => panic!("live did not start: {}", live.stderr),
            }
        }
        live
    }

    /// The next JSON line that satisfies `pred`, within `timeout`; other lines are returned in `skipped`.
    fn next(
        &mut self,
        timeout: Duration,
        skipped: &mut Vec<Value>,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(SystemTime, Value)> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.rx.recv_timeout(left) {
                Ok(Line::Out(t, v)) if pred(&v) => return Some((t, v)),
                Ok(Line::Out(_, v)) => skipped.push(v),
                Ok(Line::Err(l)) => {
                    self.stderr.push_str(&l);
                    self.stderr.push('\n');
                }
                Ok(Line::Eof) => {
                    self.stdout_done = true;
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Send SIGINT, read every remaining line, and wait for the exit (all within `timeout`).
    fn interrupt(self, timeout: Duration) -> (i32, Vec<Value>, String) {
        self.signal("-INT", timeout)
    }

    /// Send `sig` (`-INT`, `-TERM`), read every remaining line, and wait for the exit.
    fn signal(mut self, sig: &str, timeout: Duration) -> (i32, Vec<Value>, String) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok);
        let deadline = Instant::now() + timeout;
        let mut rest = Vec::new();
        while !self.stdout_done {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.next(left, &mut rest, |_| false).is_none() && !self.stdout_done {
                let _ = self.child.kill();
                panic!("live did not finish after SIGINT: {}", self.stderr);
            }
        }
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("live did not exit after SIGINT");
            }
            thread::sleep(Duration::from_millis(20));
        };
        while let Ok(l) = self.rx.recv_timeout(Duration::from_millis(200)) {
            if let Line::Err(l) = l {
                self.stderr.push_str(&l);
                self.stderr.push('\n');
            }
        }
        (status.code().unwrap_or(-1), rest, self.stderr.clone())
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// RFC 3339 UTC with nanoseconds, as the report prints it.
fn parse_time(s: &str) -> SystemTime {
    let (date, time) = s.trim_end_matches('Z').split_once('T').unwrap();
    let d: Vec<i64> = date.split('-').map(|x| x.parse().unwrap()).collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<u64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
    let nanos: u64 = format!("{frac:0<9}")[..9].parse().unwrap();
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe - 719_468) as u64;
    UNIX_EPOCH + Duration::new(days * 86_400 + t[0] * 3600 + t[1] * 60 + t[2], nanos as u32)
}

/// When the event that decided the verdict happened: its decisive packet, else its last packet.
fn event_time(c: &Value) -> SystemTime {
    let decisive = c["decisive_frame"].as_u64();
    let t = c["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["frame"].as_u64() == decisive && decisive.is_some())
        .map_or_else(
            || c["timing"]["end"].as_str().unwrap(),
            |e| e["time"].as_str().unwrap(),
        );
    parse_time(t)
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlsa-live-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `"type": "capture"` line, as docs/json-schema.md documents it.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CaptureLine {
    schema: u32,
    #[serde(rename = "type")]
    kind: String,
    started: String,
    stopped: String,
    duration_ms: f64,
    stopped_by: String,
    filter: String,
    interfaces: Vec<CaptureInterface>,
    verdicts_printed: u64,
    late_packets: u64,
    evicted_connections: u64,
    evicted_not_printed: u64,
    max_connections: u64,
    max_live_connections: u64,
    written: Vec<Written>,
    evidence: Option<EvidenceFile>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CaptureInterface {
    name: String,
    link_type: String,
    packets: u64,
    received: Option<u64>,
    dropped_kernel: Option<u64>,
    dropped_interface: Option<u64>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Written {
    path: String,
    packets: u64,
    bytes: u64,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EvidenceFile {
    path: String,
    connections: u64,
    packets: u64,
    packets_not_kept: u64,
    redacted: bool,
    anonymized: bool,
    error: Option<String>,
}

const RESETTER: &str = r#"
import socket, struct, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(65536)   # the ClientHello
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()       # linger 0: an RST
"#;

const SILENT: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept()
    held.append(c)  # never reads, never answers
"#;

/// Not TLS: answers the ClientHello with a line of text that must not reach the evidence file.
const NOT_TLS: &str = r#"
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"220 TLSA-SECRET-PAYLOAD-5f1c9a77e2b4 this port does not speak TLS\r\n" * 4)
    c.close()
"#;

/// The marker NOT_TLS sends.
const SECRET: &[u8] = b"TLSA-SECRET-PAYLOAD-5f1c9a77e2b4";

/// tshark -T fields output, one Vec per packet.
fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    common::tshark_fields(file, filter, fields, &[])
}

fn decode_hex(s: &str) -> Vec<u8> {
    let s: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    s.chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn server_port(c: &Value) -> u16 {
    c["server"]
        .as_str()
        .and_then(|s| s.rsplit(':').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0)
}

/// Real handshakes on a loopback, one after the other: each verdict is printed, right, within a
/// bounded time of the event that decided it.
#[test]
fn live_reports_each_handshake_as_it_dies() {
    if let Some(why) = cannot_run(&["openssl", "curl", "ss", "tshark"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(ns) = Netns::new("live-verdicts") else {
        eprintln!("skipped: needs root (cannot create a network namespace)");
        return;
    };
    let mut procs = Procs::default();
    let dir = temp_dir("verdicts");
    let (cert, key) = common::self_signed(&dir, "localhost");
    let s_server = |port: u16, extra: &[&str]| {
        let mut c = ns.cmd("openssl");
        c.args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(extra);
        c
    };
    procs.spawn(s_server(4431, &["-tls1_3"]));
    procs.spawn(s_server(4432, &["-tls1_2", "-cipher", "AES256-SHA"]));
    procs.spawn(s_server(4436, &["-tls1_3"]));
    let mut py = |script: &str, port: u16| {
        let mut c = ns.cmd(python());
        c.args(["-c", script, &port.to_string()]);
        procs.spawn(c)
    };
    py(RESETTER, 4433);
    py(SILENT, 4434);
    py(NOT_TLS, 4435);
    ns.wait_listening(&[4431, 4432, 4433, 4434, 4435, 4436]);

    let (quiet, grace) = (2.0, 0.5);
    let write = dir.join("cap.pcapng");
    let evidence = dir.join("evidence.pcapng");
    let mut live = Live::start(
        &ns,
        &[
            "-i",
            "lo",
            "--json",
            "--all",
            "--quiet-time",
            "2",
            "--close-grace",
            "0.5",
            "--write",
            write.to_str().unwrap(),
            "--evidence",
            evidence.to_str().unwrap(),
        ],
    );
    assert!(
        live.stderr.contains("redacted (application data"),
        "{}",
        live.stderr
    );

    let curl = |url: &str, extra: &[&str]| {
        let mut c = ns.cmd("curl");
        c.args(["-sk", "--max-time", "5", "-o", "/dev/null"])
            .args(extra)
            .arg(url);
        c
    };
    // (port, outcome, cause, how long after the event at most)
    let mut seen = Vec::new();
    let mut skipped = Vec::new();
    let mut expect = |live: &mut Live, port: u16, outcome: &str, cause: Option<&str>, wait: f64| {
        let got = live.next(Duration::from_secs(20), &mut skipped, |v| {
            v["type"] == "connection" && server_port(v) == port
        });
        let Some((arrived, c)) = got else {
            panic!(
                "no verdict for port {port} within 20 s; stderr: {}",
                live.stderr
            );
        };
        if outcome.is_empty() {
            assert_eq!(c["class"], "failed", "{c:#}");
        } else {
            assert_eq!(c["outcome"], outcome, "{c:#}");
        }
        if let Some(cause) = cause {
            assert_eq!(c["cause"], cause, "{c:#}");
        }
        let latency = arrived
            .duration_since(event_time(&c))
            .unwrap_or_default()
            .as_secs_f64();
        eprintln!(
            "port {port}: {outcome:<28} printed {:>6.0} ms after its decisive packet (waits {:.0} ms by design)",
            latency * 1e3,
            wait * 1e3
        );
        // Generous for a loaded CI machine: the wait by design, plus 2 s.
        assert!(latency <= wait + 2.0, "port {port}: {latency} s");
        seen.push((port, c));
    };

    run_client(curl("https://127.0.0.1:4431/", &["--tlsv1.3"]), 15);
    expect(&mut live, 4431, "handshake_complete", None, grace);

    let mut sc = ns.cmd("openssl");
    sc.args(["s_client", "-connect", "127.0.0.1:4432", "-tls1_2"])
        .args(["-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]);
    run_client(sc, 15);
    expect(
        &mut live,
        4432,
        "server_alert",
        Some("cipher_mismatch"),
        grace,
    );

    run_client(curl("https://127.0.0.1:4433/", &[]), 15);
    expect(&mut live, 4433, "reset_after_client_hello", None, grace);

    run_client(curl("https://127.0.0.1:4439/", &[]), 15);
    expect(&mut live, 4439, "syn_rejected", Some("port_closed"), grace);

    // Payload that must not reach the evidence: plain text from a server that is not TLS, and (TLS
    // 1.3) the encrypted server flight of a handshake the client ends for the self-signed
    // certificate (curl without -k), with the server name in the ClientHello.
    run_client(curl("https://127.0.0.1:4435/", &[]), 15);
    expect(&mut live, 4435, "", Some("not_tls"), grace);
    let mut strict = ns.cmd("curl");
    strict
        .args(["-s", "--max-time", "5", "-o", "/dev/null", "--tlsv1.3"])
        .args(["--resolve", "localhost:4436:127.0.0.1"])
        .arg("https://localhost:4436/");
    run_client(strict, 15);
    expect(&mut live, 4436, "", Some("certificate_rejected"), grace);

    // Silence: the verdict comes from the clock, the quiet time after the ClientHello.
    let mut waiting = Procs::default();
    waiting.spawn(curl("https://127.0.0.1:4434/", &["--max-time", "15"]));
    expect(&mut live, 4434, "silence_after_client_hello", None, quiet);
    drop(waiting);

    let (status, rest, stderr) = live.interrupt(Duration::from_secs(20));
    assert_eq!(status, 1, "failures seen: exit 1; {stderr}");
    let cap = rest
        .iter()
        .find(|l| l["type"] == "capture")
        .unwrap_or_else(|| panic!("no capture line: {rest:#?}"));
    let cap: CaptureLine = serde_json::from_value(cap.clone()).unwrap();
    assert_eq!(cap.stopped_by, "interrupt");
    assert_eq!(cap.interfaces.len(), 1);
    let lo = &cap.interfaces[0];
    assert!(
        lo.packets > 20 && lo.received.unwrap() >= lo.packets,
        "{lo:?}"
    );
    assert_eq!(lo.dropped_kernel, Some(0), "{lo:?}");
    assert!(lo.dropped_interface.is_some());
    assert_eq!(rest.last().unwrap()["type"], "summary");
    let ev = cap.evidence.as_ref().unwrap();
    assert!(
        ev.redacted && !ev.anonymized && ev.error.is_none(),
        "{ev:?}"
    );
    assert_eq!(ev.connections, 6, "{ev:?}");

    // The written file holds what was captured: `analyze` finds the same verdicts, citing the same
    // frames, for the connections that were closed.
    let run = common::analyze_json(&[&write], &[]);
    for (port, c) in &seen {
        if *port == 4434 {
            continue;
        }
        let a = run
            .connections
            .iter()
            .find(|a| server_port(a) == *port)
            .unwrap_or_else(|| panic!("port {port} not in the written file"));
        assert_eq!(a["outcome"], c["outcome"], "port {port}");
        assert_eq!(a["decisive_frame"], c["decisive_frame"], "port {port}");
        assert_eq!(c["file"], write.to_str().unwrap());
    }
    // The evidence file holds the failed connections only, and the temporary copy is gone.
    let run = common::analyze_json(&[&evidence], &[]);
    let mut ports: Vec<u16> = run.connections.iter().map(server_port).collect();
    ports.sort();
    assert_eq!(ports, vec![4432, 4433, 4434, 4435, 4436, 4439]);
    assert_eq!(
        ev.packets,
        tshark_fields(&evidence, "", &["frame.number"]).len() as u64
    );
    let mut partial = evidence.clone().into_os_string();
    partial.push(".partial");
    assert!(!Path::new(&partial).exists());
    check_evidence_redacted(&write, &evidence, &seen);
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The evidence of `live` is redacted as `analyze --evidence` makes it: no application-data byte
/// of the live traffic (in the full `--write` capture) survives, while the ClientHello's server name
/// and the alerts still decode; it has a section comment, and a comment on each decisive packet.
fn check_evidence_redacted(write: &Path, evidence: &Path, seen: &[(u16, Value)]) {
    // The packets (the verdicts' packet comments may quote what they cite, as with `analyze --evidence`).
    let packets = |f: &Path| {
        let mut r = tlsautopsy::capture::CaptureReader::open(f).unwrap();
        let mut out = Vec::new();
        while let Some(fr) = r.next_frame().unwrap() {
            out.extend_from_slice(fr.data);
        }
        out
    };
    let ev_bytes = packets(evidence);
    let full = packets(write);
    assert!(
        contains(&full, SECRET),
        "the not-TLS answer is in the --write capture"
    );
    assert!(
        !contains(&ev_bytes, SECRET),
        "the not-TLS answer survived redaction"
    );
    // TLS 1.3: the server's encrypted flight is application-data records.
    let app: Vec<Vec<u8>> =
        tshark_fields(write, "tcp.port == 4436 && tls.app_data", &["tls.app_data"])
            .iter()
            .flat_map(|r| r[0].split(',').map(decode_hex).collect::<Vec<_>>())
            .filter(|b| b.len() >= 20)
            .collect();
    assert!(
        !app.is_empty(),
        "no application data in the --write capture"
    );
    let mut checked = 0;
    for b in &app {
        for w in b.windows(20).step_by(4) {
            checked += 1;
            assert!(
                !contains(&ev_bytes, w),
                "application data {w:02x?} survived redaction"
            );
        }
    }
    assert!(checked > 50, "{checked}");
    // What tshark still shows as application data in the evidence is zeros (cut bytes before kept ones).
    for r in tshark_fields(evidence, "tls.app_data", &["tls.app_data"]) {
        assert!(decode_hex(&r[0]).iter().all(|b| *b == 0), "{r:?}");
    }
    let sni = tshark_fields(
        evidence,
        "tls.handshake.extensions_server_name",
        &["tls.handshake.extensions_server_name"],
    );
    assert!(sni.iter().any(|r| r[0] == "localhost"), "{sni:?}");
    let alerts = tshark_fields(
        evidence,
        "tls.alert_message",
        &["tcp.srcport", "tls.alert_message.desc"],
    );
    assert!(
        alerts.iter().any(|r| r[0] == "4432" && r[1] == "40"),
        "{alerts:?}"
    );
    // The section comment, and a comment on every decisive packet naming it as the verdict did.
    let mut r = tlsautopsy::capture::CaptureReader::open(evidence).unwrap();
    while r.next_frame().unwrap().is_some() {}
    let section = r.section_comments().join("\n");
    assert!(
        section.contains("tlsautopsy") && section.contains("6 failed connection(s)"),
        "{section}"
    );
    assert!(
        section.contains("Redaction: TLS handshake records"),
        "{section}"
    );
    let comments: Vec<String> = tshark_fields(evidence, "frame.comment", &["frame.comment"])
        .into_iter()
        .map(|r| r.join(" "))
        .collect();
    let mut decisive = 0;
    for (port, c) in seen {
        let Some(d) = c["decisive_frame"].as_u64() else {
            continue;
        };
        if c["class"] != "failed" {
            continue;
        }
        let want = format!("[input {} frame {d}]", c["file"].as_str().unwrap());
        assert!(
            comments
                .iter()
                .any(|x| x.contains("DECISIVE packet") && x.contains(&want)),
            "port {port}: no comment with {want}: {comments:#?}"
        );
        decisive += 1;
    }
    assert!(decisive >= 5, "{decisive}");
}

/// SIGINT: open connections are flushed as in progress, with what was seen, then the capture
/// statistics and the summary.
/// A TLS server that answers one line, then stays silent for 6 s and resets the connection
/// (linger 0): a server side that timed the idle connection out.
const IDLE_RESETTER: &str = r#"
import socket, ssl, struct, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
while True:
    c, _ = s.accept()
    t = ctx.wrap_socket(c, server_side=True)
    t.sendall(t.recv(4096))
    time.sleep(6)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    t.close()
"#;

/// Its client: a line, its answer, then it waits for the server.
const IDLE_CLIENT: &str = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1]))), server_hostname="localhost")
t.sendall(b"ping\n"); t.recv(4096)
t.settimeout(15)
try:
    t.recv(4096)
except OSError as e:
    print("after the idle period:", type(e).__name__, flush=True)
"#;

/// Without `--all`, live prints a completed handshake only when the path or the server reset it
/// afterwards (`after_handshake.finding`): the healthy one stays quiet, the one reset after 6 s of
/// silence is printed, as `analyze` shows it.
#[test]
fn live_prints_a_completed_connection_reset_after_an_idle_period() {
    if let Some(why) = cannot_run(&["openssl", "curl", "ss"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(ns) = Netns::new("live-idle") else {
        eprintln!("skipped: needs root (cannot create a network namespace)");
        return;
    };
    let mut procs = Procs::default();
    let dir = temp_dir("idle");
    let (cert, key) = common::self_signed(&dir, "localhost");
    let mut c = ns.cmd("openssl");
    c.args(["s_server", "-accept", "127.0.0.1:4431", "-www", "-tls1_3"])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key);
    procs.spawn(c);
    let mut c = ns.cmd(python());
    c.args(["-c", IDLE_RESETTER, "4437"]).arg(&cert).arg(&key);
    procs.spawn(c);
    ns.wait_listening(&[4431, 4437]);
    let mut live = Live::start(&ns, &["-i", "lo", "--json", "--close-grace", "0.5"]);
    let mut curl = ns.cmd("curl");
    curl.args([
        "-sk",
        "--max-time",
        "5",
        "-o",
        "/dev/null",
        "https://127.0.0.1:4431/",
    ]);
    run_client(curl, 15);
    let mut client = ns.cmd(python());
    client.args(["-c", IDLE_CLIENT, "4437"]);
    run_client(client, 20);
    let mut skipped = Vec::new();
    let got = live.next(Duration::from_secs(20), &mut skipped, |v| {
        v["type"] == "connection"
    });
    let Some((_, c)) = got else {
        panic!("no verdict printed; stderr: {}", live.stderr);
    };
    assert_eq!(
        server_port(&c),
        4437,
        "the healthy connection was printed: {c:#}"
    );
    assert_eq!(c["outcome"], "handshake_complete", "{c:#}");
    let a = &c["after_handshake"];
    assert_eq!(a["ended"], "reset", "{a}");
    assert_eq!(a["by"], "server", "{a}");
    assert_eq!(a["finding"], "idle_reset", "{a}");
    assert!(a["idle_ms"].as_f64().unwrap_or(0.0) >= 5000.0, "{a}");
    let (status, lines, stderr) = live.interrupt(Duration::from_secs(20));
    assert_eq!(status, 0, "{stderr}");
    let printed: Vec<u16> = lines
        .iter()
        .filter(|l| l["type"] == "connection")
        .map(server_port)
        .collect();
    assert!(!printed.contains(&4431), "{lines:#?}");
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["after_handshake"]["idle_reset"], 1, "{summary}");
    assert_eq!(summary["ok"], 2, "{summary}");
    drop(procs);
}

#[test]
fn sigint_flushes_open_connections_and_prints_statistics() {
    if let Some(why) = cannot_run(&["curl", "ss"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(ns) = Netns::new("sigint") else {
        eprintln!("skipped: needs root (cannot create a network namespace)");
        return;
    };
    let mut procs = Procs::default();
    let mut c = ns.cmd(python());
    c.args(["-c", SILENT, "4434"]);
    procs.spawn(c);
    ns.wait_listening(&[4434]);
    let live = Live::start(&ns, &["-i", "lo", "--json", "--quiet-time", "60"]);
    let mut c = ns.cmd("curl");
    c.args(["-sk", "--max-time", "30", "https://127.0.0.1:4434/"]);
    procs.spawn(c);
    thread::sleep(Duration::from_millis(1500));
    let (status, lines, stderr) = live.interrupt(Duration::from_secs(20));
    assert_eq!(status, 0, "{stderr}");
    let conns: Vec<&Value> = lines.iter().filter(|l| l["type"] == "connection").collect();
    assert_eq!(conns.len(), 1, "{lines:#?}");
    assert_eq!(conns[0]["outcome"], "in_progress");
    assert!(conns[0]["client_hello"].is_object(), "{:#}", conns[0]);
    let n = lines.len();
    assert!(n >= 3);
    assert_eq!(lines[n - 2]["type"], "capture");
    assert_eq!(lines[n - 1]["type"], "summary");
    let cap: CaptureLine = serde_json::from_value(lines[n - 2].clone()).unwrap();
    assert_eq!(cap.stopped_by, "interrupt");
    let lo = &cap.interfaces[0];
    assert!(lo.packets >= 4, "{lo:?}");
    assert!(lo.received.is_some() && lo.dropped_kernel.is_some() && lo.dropped_interface.is_some());
    assert_eq!(lines[n - 1]["undetermined"], 1);
    drop(procs);
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

const FLOOD: &str = r#"
import socket, sys, time
n, port, limit = int(sys.argv[1]), int(sys.argv[2]), time.time() + float(sys.argv[3])
sent = 0
while sent < n and time.time() < limit:
    s = socket.socket()
    s.bind(("127.0.0.1", 20000 + sent))  # a new source port each time: one SYN per connection
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))   # one SYN, never answered (nftables drops it)
    s.close()                           # closing in SYN-SENT sends nothing
    sent += 1
print(sent)
"#;

/// A SYN flood from the test (bounded in count and time): memory stays bounded by the connection
/// cap, and the evicted connections are counted.
#[test]
fn syn_flood_memory_is_bounded_and_evictions_counted() {
    if let Some(why) = cannot_run(&["nft"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(ns) = Netns::new("flood") else {
        eprintln!("skipped: needs root (cannot create a network namespace)");
        return;
    };
    ns.run("nft", &["add", "table", "inet", "tlsa"]);
    ns.run(
        "nft",
        &["add chain inet tlsa in { type filter hook input priority 0 ; }"],
    );
    ns.run("nft", &["add rule inet tlsa in tcp dport 9 drop"]);
    let cap_n = 500u64;
    let live = Live::start(
        &ns,
        &[
            "-i",
            "lo",
            "--json",
            "--quiet-time",
            "60",
            "--max-connections",
            &cap_n.to_string(),
            "--filter",
            "tcp port 9",
        ],
    );
    let before = vm_hwm_kib(live.pid());
    let flood = ns
        .cmd(python())
        .args(["-c", FLOOD, "20000", "9", "30"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let sent: u64 = String::from_utf8_lossy(&flood.stdout)
        .trim()
        .parse()
        .unwrap();
    assert!(sent >= 5_000, "only {sent} SYNs sent");
    thread::sleep(Duration::from_millis(1500));
    let hwm = vm_hwm_kib(live.pid());
    let (status, lines, stderr) = live.signal("-TERM", Duration::from_secs(60));
    let n = lines.len();
    assert!(n >= 2, "{stderr}");
    let cap: CaptureLine = serde_json::from_value(lines[n - 2].clone()).unwrap();
    assert_eq!(cap.stopped_by, "terminate");
    let summary = &lines[n - 1];
    // Every connection is a lone SYN, still in progress: none failed.
    assert_eq!(status, 0, "{stderr}{summary}");
    let lo = &cap.interfaces[0];
    eprintln!(
        "flood: {sent} SYNs sent, {} captured, {} dropped by the kernel; {} connections, {} evicted, at most {} live; peak RSS {} KiB (at start {} KiB)",
        lo.packets,
        lo.dropped_kernel.unwrap_or(0),
        summary["connections"],
        cap.evicted_connections,
        cap.max_live_connections,
        hwm,
        before
    );
    assert!(cap.max_live_connections <= cap_n);
    assert_eq!(
        summary["max_live_connections"].as_u64().unwrap(),
        cap.max_live_connections
    );
    // Every SYN captured is a connection; all but the last `cap_n` were evicted, and not printed.
    let conns = summary["connections"].as_u64().unwrap();
    assert!(conns >= lo.packets / 2 && conns > 2 * cap_n, "{summary}");
    assert!(cap.evicted_connections >= conns - cap_n, "{cap:?}");
    assert_eq!(cap.evicted_not_printed, cap.evicted_connections);
    assert_eq!(summary["evicted_connections"], cap.evicted_connections);
    let printed = lines.iter().filter(|l| l["type"] == "connection").count() as u64;
    assert!(printed <= cap_n);
    // The drops, if any, are reported.
    assert!(lo.dropped_kernel.is_some());
    // Bounded: the capture buffer (32 MiB) plus a few MiB, whatever the flood's size.
    assert!(hwm < 160 * 1024, "peak RSS {hwm} KiB");
}

/// Without the capability to capture: a clear error naming it, exit 2.
#[test]
fn without_permission_the_error_names_the_capability() {
    if cannot_run(&["setpriv"]).is_some() {
        eprintln!("skipped: needs root");
        return;
    }
    let out = Command::new("setpriv")
        .args(["--bounding-set=-net_raw,-net_admin", "--"])
        .args([BIN, "live", "-i", "lo", "--duration", "1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("CAP_NET_RAW") && err.contains("CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(err.contains("setcap cap_net_raw"), "{err}");
    assert!(out.stdout.is_empty());
}
