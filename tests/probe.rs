//! `tlsautopsy probe` against real servers: openssl s_server (TLS 1.3, and TLS 1.2 with one old
//! cipher suite), the Azure-Firewall-like SNI filter of `captures/tools` (closing with a FIN or a
//! RST), a server that never answers, a plain HTTP server, a closed port and, in a network
//! namespace, an nftables rule that drops SYNs.
//!
//! - `sockets_alone_*` runs anywhere (servers on 127.0.0.1, `--no-capture`): what the sockets saw
//!   and the conclusion drawn from the attempts.
//! - `captured_*` needs root (CI runs as root; otherwise it prints "skipped: needs root" and
//!   passes): the probe captures its own packets inside a namespace created here, and each attempt
//!   gets its connection's verdict from the same analyzer as `analyze`; `--write` saves them, and
//!   `analyze` on that file gives the same verdicts.
//!
//! Traffic stays on the loopback interface or inside the namespace; every wait is bounded; only
//! processes started here are stopped, by PID.
#![cfg(target_os = "linux")]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tlsautopsy");

use common::{cannot_run, python, Procs};

/// The server name in the ClientHellos of the shipped captures.
const REPLAYED_NAME: &str = "global.handler.control.monitor.azure.com";

fn tools() -> PathBuf {
    common::root().join("captures/tools")
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlsa-probe-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How to run a program: on this host, or inside a namespace.
#[derive(Clone)]
struct Place(Option<String>);

impl Place {
    fn cmd(&self, prog: &str) -> Command {
        match &self.0 {
            None => Command::new(prog),
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, prog]);
                c
            }
        }
    }

    /// Wait (at most 10 s) until TCP `ports` listen.
    fn wait_listening(&self, ports: &[u16]) {
        common::wait_listening(|| self.cmd("ss"), ports);
    }
}

/// The servers of every scenario, on consecutive ports from `base`.
struct Servers {
    _procs: Procs,
    /// TLS 1.3 and 1.2, certificate for allowed.test.
    ok: u16,
    /// SNI filter: denies blocked.test with a FIN, relays the other names to `ok`.
    filter_fin: u16,
    /// The same, with a RST.
    filter_rst: u16,
    /// TLS 1.2 only, one suite: TLS_RSA_WITH_AES_128_CBC_SHA256.
    old_suite: u16,
    /// Reads the ClientHello and never answers.
    silent: u16,
    /// Plain HTTP (answers a ClientHello with "400 Bad Request").
    http: u16,
    /// An SNI filter that reads only the first 1448 bytes: a larger ClientHello gets silence,
    /// a smaller one is relayed to `ok`.
    first_segment: u16,
    /// HTTP proxies: CONNECT allowed (to `ok`, as allowed.test), denied (403), and 407.
    proxy_allow: u16,
    proxy_deny: u16,
    proxy_auth: u16,
}

fn start_servers(place: &Place, ports: [u16; 10], dir: &Path) -> Servers {
    let (cert, key) = common::self_signed(dir, "allowed.test");
    let [ok, filter_fin, filter_rst, old_suite, silent, http, first_segment, proxy_allow, proxy_deny, proxy_auth] =
        ports;
    let mut procs = Procs::default();
    let s_server = |port: u16, extra: &[&str]| {
        let mut c = place.cmd("openssl");
        c.args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(extra);
        c
    };
    procs.spawn(s_server(ok, &[]));
    procs.spawn(s_server(
        old_suite,
        &["-no_tls1_3", "-cipher", "AES128-SHA256"],
    ));
    let py = |script: &str, args: &[String]| {
        let mut c = place.cmd(python());
        c.arg(tools().join(script)).args(args);
        c
    };
    for (port, close) in [(filter_fin, "fin"), (filter_rst, "rst")] {
        procs.spawn(py(
            "azfw_proxy.py",
            &[
                "--port".into(),
                port.to_string(),
                "--close".into(),
                close.into(),
                "--deny".into(),
                "blocked.test".into(),
                // (The name the shipped captures' clients sent: for --replay.)
                "--deny".into(),
                REPLAYED_NAME.into(),
                "--upstream".into(),
                format!("127.0.0.1:{ok}"),
            ],
        ));
    }
    procs.spawn(py(
        "silent_server.py",
        &[
            "--port".into(),
            silent.to_string(),
            "--hold".into(),
            "30".into(),
        ],
    ));
    procs.spawn(py(
        "plain_http_server.py",
        &["--port".into(), http.to_string()],
    ));
    procs.spawn(py(
        "azfw_proxy.py",
        &[
            "--port".into(),
            first_segment.to_string(),
            "--first-segment".into(),
            "1448".into(),
            "--deny".into(),
            "blocked.test".into(),
            "--upstream".into(),
            format!("127.0.0.1:{ok}"),
        ],
    ));
    for (port, mode) in [
        (proxy_allow, "allow"),
        (proxy_deny, "deny"),
        (proxy_auth, "auth"),
    ] {
        procs.spawn(py(
            "connect_proxy.py",
            &[
                "--port".into(),
                port.to_string(),
                "--mode".into(),
                mode.into(),
                "--map".into(),
                "allowed.test=127.0.0.1".into(),
            ],
        ));
    }
    place.wait_listening(&ports);
    Servers {
        _procs: procs,
        ok,
        filter_fin,
        filter_rst,
        old_suite,
        silent,
        http,
        first_segment,
        proxy_allow,
        proxy_deny,
        proxy_auth,
    }
}

/// Runs `tlsautopsy probe ... --json` (at most 60 s): exit status and the JSON lines.
fn probe(place: &Place, args: &[&str]) -> (i32, Vec<Value>, Output) {
    probe_env(place, args, &[])
}

/// The variables that name a proxy (the probe reads them as curl does).
const PROXY_VARS: [&str; 6] = [
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// [`probe`] with the environment's proxy variables set to `env` (and no others: those of the
/// machine running the tests would send these probes of local servers to its proxy).
fn probe_env(place: &Place, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, Output) {
    let mut c = place.cmd(BIN);
    for v in PROXY_VARS {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c.arg("probe").args(args).arg("--json");
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id();
    let watchdog = thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (out.status.code().unwrap_or(-1), lines, out)
}

/// The `probe` line as docs/json-schema.md declares it: an undocumented field fails.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ProbeLine {
    schema: u32,
    #[serde(rename = "type")]
    kind: String,
    target: TargetJson,
    capture: CaptureJson,
    attempts: Vec<AttemptJson>,
    conclusion: ConclusionJson,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TargetJson {
    host: String,
    port: u16,
    address: Option<String>,
    addresses: Vec<String>,
    proxy: Option<String>,
    proxy_from: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CaptureJson {
    captured: bool,
    interface: Option<String>,
    packets: u64,
    dropped: u64,
    problem: Option<String>,
    file: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AttemptJson {
    name: String,
    purpose: String,
    offer: String,
    post_quantum: bool,
    sni: Option<String>,
    alpn: Vec<String>,
    local_port: Option<u16>,
    tcp: String,
    tcp_ms: Option<f64>,
    tcp_error: Option<String>,
    client_hello_bytes: u64,
    received_bytes: u64,
    first_byte_ms: Option<f64>,
    end: String,
    end_ms: Option<f64>,
    proxy: Option<ProxyJson>,
    server_hello: Option<ServerHelloJson>,
    alert: Option<AlertJson>,
    http_status: Option<u16>,
    http_status_line: Option<String>,
    not_tls: Option<NotTlsJson>,
    certificates: Vec<CertJson>,
    connection_id: Option<u64>,
    outcome: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ProxyJson {
    connect: String,
    status: Option<u16>,
    status_line: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ServerHelloJson {
    hello_retry_request: bool,
    version: String,
    cipher_suite: String,
    alpn: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AlertJson {
    name: String,
    code: u8,
    level: u8,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct NotTlsJson {
    looks_like: String,
    excerpt: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CertJson {
    subject: String,
    issuer: String,
    not_before: i64,
    not_after: i64,
    san: Vec<String>,
    self_signed: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ConclusionJson {
    kind: String,
    headline: String,
    text: String,
}

/// The `probe` line (checked against the documented schema).
fn summary(lines: &[Value]) -> &Value {
    let p = lines.last().expect("no output");
    assert_eq!(p["type"], "probe", "{p}");
    assert_eq!(p["schema"], 1);
    if let Err(e) = serde_json::from_value::<ProbeLine>(p.clone()) {
        panic!("the probe line does not match docs/json-schema.md: {e}: {p}");
    }
    p
}

fn kind(lines: &[Value]) -> &str {
    summary(lines)["conclusion"]["kind"].as_str().unwrap()
}

fn attempts(lines: &[Value]) -> Vec<&Value> {
    summary(lines)["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

fn names(lines: &[Value]) -> Vec<&str> {
    attempts(lines)
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect()
}

/// The verdict of attempt `i` (its connection line, by id).
fn verdict(lines: &[Value], i: usize) -> &Value {
    let id = attempts(lines)[i]["connection_id"].clone();
    assert!(
        id.is_u64(),
        "attempt {i} has no connection: {}",
        summary(lines)
    );
    lines
        .iter()
        .find(|l| l["type"] == "connection" && l["id"] == id)
        .unwrap()
}

fn free_ports(n: usize) -> Vec<u16> {
    // Bound all at once, so they differ; freed before the servers bind them.
    let socks: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    socks
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

#[test]
fn sockets_alone_tell_a_name_block_from_a_cipher_mismatch() {
    if let Some(why) = cannot_run(&["openssl", "ss", "python3"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = temp_dir("sockets");
    let ports: [u16; 10] = free_ports(10).try_into().unwrap();
    let place = Place(None);
    let s = start_servers(&place, ports, &dir);
    let at = |port: u16| format!("127.0.0.1:{port}");
    let common = ["--no-capture", "--timeout", "1.5"];

    // TLS works: a TLS 1.3 ServerHello, then the certificate seen with a TLS 1.2 offer.
    let (code, lines, out) = probe(
        &place,
        &[
            &at(s.ok),
            "--sni",
            "allowed.test",
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines.len(), 1, "no connection lines without a capture");
    let p = summary(&lines);
    assert_eq!(p["capture"]["captured"], false);
    assert_eq!(kind(&lines), "tls_ok");
    assert_eq!(names(&lines), ["agent", "certificate"]);
    let a = attempts(&lines);
    assert_eq!(a[0]["tcp"], "connected");
    assert_eq!(a[0]["server_hello"]["version"], "TLS 1.3");
    assert_eq!(a[0]["end"], "probe_stopped");
    assert_eq!(a[1]["server_hello"]["version"], "TLS 1.2");
    assert_eq!(a[1]["certificates"][0]["san"][0], "allowed.test");
    assert_eq!(a[1]["certificates"][0]["self_signed"], true);
    let text = p["conclusion"]["text"].as_str().unwrap();
    assert!(text.contains("self-signed"), "{text}");

    // A host name is sent as the SNI; the certificate does not name it.
    let (code, lines, _) = probe(
        &place,
        &[
            &format!("localhost:{}", s.ok),
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!((code, kind(&lines)), (0, "tls_ok"));
    assert_eq!(attempts(&lines)[0]["sni"], "localhost");
    let text = summary(&lines)["conclusion"]["text"].as_str().unwrap();
    assert!(text.contains("It does not name localhost"), "{text}");

    // The SNI filter: nothing back for blocked.test, a TLS answer for the control name.
    for (port, end) in [
        (s.filter_fin, "server_closed"),
        (s.filter_rst, "server_reset"),
    ] {
        let (code, lines, _) = probe(
            &place,
            &[
                &at(port),
                "--sni",
                "blocked.test",
                common[0],
                common[1],
                common[2],
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(kind(&lines), "blocked_on_name", "{}", summary(&lines));
        assert_eq!(names(&lines), ["agent", "small_hello", "control_name"]);
        let a = attempts(&lines);
        assert_eq!(a[0]["received_bytes"], 0);
        assert_eq!(a[0]["end"], end);
        assert_eq!(a[1]["end"], end, "the size does not matter");
        assert_eq!(a[2]["sni"], "example.com");
        assert_eq!(a[2]["server_hello"]["version"], "TLS 1.3");
    }
    // Through the same filter, an allowed name reaches the server.
    let (code, lines, _) = probe(
        &place,
        &[
            &at(s.filter_fin),
            "--sni",
            "allowed.test",
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!((code, kind(&lines)), (0, "tls_ok"));

    // A server with one old suite: an alert to the current offer, an answer to the TLS 1.2 one.
    let (code, lines, _) = probe(
        &place,
        &[
            &at(s.old_suite),
            "--sni",
            "allowed.test",
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        kind(&lines),
        "offer_refused_tls12_accepted",
        "{}",
        summary(&lines)
    );
    let a = attempts(&lines);
    assert_eq!(a[0]["alert"]["name"], "handshake_failure");
    assert_eq!(a[1]["name"], "tls12");
    assert_eq!(
        a[1]["server_hello"]["cipher_suite"],
        "TLS_RSA_WITH_AES_128_CBC_SHA256"
    );

    // Silence: every offer is tried, and each waits the whole timeout.
    let (code, lines, _) = probe(
        &place,
        &[
            &at(s.silent),
            "--sni",
            "x.test",
            common[0],
            "--timeout",
            "0.7",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(kind(&lines), "blocked_whatever_name");
    assert_eq!(
        names(&lines),
        ["agent", "small_hello", "control_name", "tls12"]
    );
    for a in attempts(&lines) {
        assert_eq!(a["end"], "silence");
        assert!(a["end_ms"].as_f64().unwrap() >= 700.0, "{a}");
    }

    // A middlebox that reads only the first segment: the post-quantum ClientHello (about 1.5 KB)
    // gets silence, the same offer without it gets through.
    let (code, lines, _) = probe(
        &place,
        &[
            &at(s.first_segment),
            "--sni",
            "allowed.test",
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(kind(&lines), "large_client_hello", "{}", summary(&lines));
    assert_eq!(names(&lines), ["agent", "small_hello"]);
    let a = attempts(&lines);
    assert_eq!(a[0]["post_quantum"], true);
    assert!(
        a[0]["client_hello_bytes"].as_u64().unwrap() > 1448,
        "{}",
        a[0]
    );
    assert_eq!(a[0]["end"], "silence");
    assert_eq!(a[1]["post_quantum"], false);
    assert!(a[1]["client_hello_bytes"].as_u64().unwrap() < 1448);
    assert_eq!(a[1]["server_hello"]["version"], "TLS 1.3");
    // Without the share, the first ClientHello is the small one, and it gets through.
    let (code, lines, _) = probe(
        &place,
        &[
            &at(s.first_segment),
            "--sni",
            "allowed.test",
            "--no-pq",
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!((code, kind(&lines)), (0, "tls_ok"));

    // Through an HTTP proxy: the tunnel, a 403 and a 407.
    let endpoint = format!("allowed.test:{}", s.ok);
    let (code, lines, _) = probe(
        &place,
        &[
            &endpoint,
            "--proxy",
            &at(s.proxy_allow),
            common[0],
            common[1],
            common[2],
        ],
    );
    assert_eq!((code, kind(&lines)), (0, "tls_ok"), "{}", summary(&lines));
    let p = summary(&lines);
    assert_eq!(p["target"]["proxy"], at(s.proxy_allow));
    assert_eq!(
        p["target"]["address"],
        Value::Null,
        "the proxy resolves the name"
    );
    let a = attempts(&lines);
    assert_eq!(a[0]["proxy"]["connect"], endpoint);
    assert_eq!(a[0]["proxy"]["status"], 200);
    assert_eq!(a[0]["sni"], "allowed.test");
    for (port, status, word) in [
        (s.proxy_deny, 403, "policy"),
        (s.proxy_auth, 407, "credentials"),
    ] {
        let (code, lines, _) = probe(
            &place,
            &[
                &endpoint,
                "--proxy",
                &at(port),
                common[0],
                common[1],
                common[2],
            ],
        );
        assert_eq!(code, 1);
        assert_eq!(kind(&lines), "proxy_refused", "{}", summary(&lines));
        let a = attempts(&lines);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0]["proxy"]["status"], status);
        assert_eq!(a[0]["client_hello_bytes"], 0);
        let text = summary(&lines)["conclusion"]["text"].as_str().unwrap();
        assert!(text.contains(word), "{text}");
    }

    // The proxy of the environment, as curl reads it: used, exempted by NO_PROXY, or not with
    // --no-proxy; its credentials never shown.
    let via_env = format!("http://user:secret@127.0.0.1:{}/", s.proxy_allow);
    let (code, lines, out) = probe_env(
        &place,
        &[&endpoint, common[0], common[1], common[2]],
        &[("HTTPS_PROXY", &via_env)],
    );
    assert_eq!((code, kind(&lines)), (0, "tls_ok"), "{}", summary(&lines));
    let p = summary(&lines);
    assert_eq!(p["target"]["proxy"], at(s.proxy_allow));
    assert_eq!(p["target"]["proxy_from"], "HTTPS_PROXY");
    assert_eq!(attempts(&lines)[0]["proxy"]["connect"], endpoint);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("secret"));
    let direct = at(s.ok);
    for (args, env) in [
        (
            vec![direct.as_str()],
            vec![
                ("HTTPS_PROXY", via_env.as_str()),
                ("NO_PROXY", "localhost,127.0.0.0/8"),
            ],
        ),
        (
            vec![direct.as_str(), "--no-proxy"],
            vec![("https_proxy", via_env.as_str())],
        ),
    ] {
        let mut all: Vec<&str> = args.clone();
        all.extend(["--sni", "allowed.test", common[0], common[1], common[2]]);
        let (code, lines, _) = probe_env(&place, &all, &env);
        assert_eq!((code, kind(&lines)), (0, "tls_ok"), "{args:?} {env:?}");
        let p = summary(&lines);
        assert_eq!(p["target"]["proxy"], Value::Null, "{args:?} {env:?}");
        assert_eq!(p["target"]["proxy_from"], Value::Null);
        assert_eq!(attempts(&lines)[0]["proxy"], Value::Null);
    }
    // A proxy it cannot speak to: said, exit 2.
    let (code, _, out) = probe_env(
        &place,
        &[&direct, common[0], common[1], common[2]],
        &[("ALL_PROXY", "socks5://127.0.0.1:1")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ALL_PROXY") && err.contains("--no-proxy"),
        "{err}"
    );
    // The text names the variable.
    let text = Command::new(BIN)
        .args(["probe", &endpoint, common[0], common[1], common[2]])
        .env("HTTPS_PROXY", &via_env)
        .env_remove("https_proxy")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains("from HTTPS_PROXY, --no-proxy to go direct"),
        "{text}"
    );
    assert!(!text.contains("secret"));

    // A real client's ClientHello, from its capture, sent again byte for byte (--replay).
    let replayed = |port: u16, capture: &str| {
        let capture = common::root().join("captures").join(capture);
        let capture = capture.to_str().unwrap();
        let (code, lines, out) = probe(
            &place,
            &[
                &at(port),
                "--replay",
                capture,
                common[0],
                common[1],
                common[2],
            ],
        );
        assert_eq!(code, 1, "{}", String::from_utf8_lossy(&out.stderr));
        let first = attempts(&lines)[0].clone();
        assert_eq!(first["offer"], "captured");
        assert_eq!(first["sni"], REPLAYED_NAME);
        let purpose = first["purpose"].as_str().unwrap();
        assert!(
            purpose.contains("connection #1") && purpose.contains(capture),
            "{purpose}"
        );
        lines
    };
    // The client of the cipher mismatch against the server with one old suite: the same alert, and
    // the broad TLS 1.2 offer accepted.
    let lines = replayed(s.old_suite, "cipher_mismatch.pcap");
    assert_eq!(
        kind(&lines),
        "offer_refused_tls12_accepted",
        "{}",
        summary(&lines)
    );
    assert_eq!(names(&lines), ["agent", "tls12"]);
    let a = attempts(&lines);
    // 182 bytes of ClientHello (the analysis's `length`) in one record.
    assert_eq!(a[0]["client_hello_bytes"], 187);
    assert_eq!(a[0]["alert"]["name"], "handshake_failure");
    assert_eq!(a[1]["offer"], "tls12_broad");
    let text = summary(&lines)["conclusion"]["text"].as_str().unwrap();
    assert!(text.contains("the captured ClientHello"), "{text}");
    // The blocked client's ClientHello against a filter that blocks its name: the control name
    // gets through.
    let lines = replayed(s.filter_fin, "azfw_close_after_ch.pcap");
    assert_eq!(kind(&lines), "blocked_on_name", "{}", summary(&lines));
    assert_eq!(names(&lines), ["agent", "control_name"]);
    assert_eq!(attempts(&lines)[0]["end"], "server_closed");
    // A 2.6 KB ClientHello against a filter that reads only the first segment: silence, and the
    // probe's own one-segment offer gets through.
    let lines = replayed(s.first_segment, "large_ch_silence.pcap");
    assert_eq!(kind(&lines), "large_client_hello", "{}", summary(&lines));
    assert_eq!(names(&lines), ["agent", "small_hello"]);
    let a = attempts(&lines);
    assert!(
        a[0]["client_hello_bytes"].as_u64().unwrap() > 2618,
        "{}",
        a[0]
    );
    assert_eq!(a[1]["server_hello"]["version"], "TLS 1.3");
    let text = summary(&lines)["conclusion"]["text"].as_str().unwrap();
    assert!(text.contains("captured ClientHello"), "{text}");

    // HTTP where TLS was expected.
    let (code, lines, _) = probe(&place, &[&at(s.http), common[0], common[1], common[2]]);
    assert_eq!(code, 1);
    assert_eq!(kind(&lines), "http_answer", "{}", summary(&lines));
    assert_eq!(attempts(&lines)[0]["http_status"], 400);
    assert_eq!(
        attempts(&lines)[0]["sni"],
        Value::Null,
        "no SNI for an IP address"
    );

    // A closed port (nothing listens on a port just freed).
    let closed = free_ports(1)[0];
    let (code, lines, _) = probe(&place, &[&at(closed), common[0], common[1], common[2]]);
    assert_eq!(code, 1);
    assert_eq!(kind(&lines), "tcp_refused");
    assert_eq!(attempts(&lines)[0]["tcp"], "refused");
    assert_eq!(names(&lines), ["agent"]);

    // Bad input: a clear error and exit 2.
    let (code, _, out) = probe(&place, &["example.com:0"]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a port number"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "live")]
#[test]
fn captured_packets_give_each_attempt_its_verdict() {
    if let Some(why) = cannot_run(&["openssl", "ip", "ss", "nft", "python3"], true) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = temp_dir("captured");
    let ns = common::Netns::new("probe-cap").expect("a network namespace (as root)");
    let place = Place(Some(ns.0.clone()));
    // Ethernet-sized packets on this loopback, each sent (and captured) as one, so that a large
    // ClientHello takes two segments.
    let st = place
        .cmd("ip")
        .args([
            "link",
            "set",
            "lo",
            "mtu",
            "1500",
            "gso_max_size",
            "1500",
            "gso_max_segs",
            "1",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let s = start_servers(
        &place,
        [4433, 8443, 8444, 4445, 4446, 8080, 8445, 3128, 3129, 3130],
        &dir,
    );
    // SYNs to 4447 vanish.
    let nft = "add table inet probe_test\n\
               add chain inet probe_test input { type filter hook input priority 0; }\n\
               add rule inet probe_test input tcp dport 4447 drop\n";
    let rules = dir.join("drop.nft");
    std::fs::write(&rules, nft).unwrap();
    let st = place.cmd("nft").arg("-f").arg(&rules).status().unwrap();
    assert!(st.success(), "nft");
    let at = |port: u16| format!("127.0.0.1:{port}");
    let t = ["--timeout", "1.5"];

    // The SNI filter, with the packets saved: the verdicts of the probe's own connections.
    let saved = dir.join("probe.pcapng");
    let saved_s = saved.to_str().unwrap();
    let (code, lines, out) = probe(
        &place,
        &[
            &at(s.filter_fin),
            "--sni",
            "blocked.test",
            t[0],
            t[1],
            "--write",
            saved_s,
        ],
    );
    assert_eq!(code, 1, "{}", String::from_utf8_lossy(&out.stderr));
    let p = summary(&lines);
    assert_eq!(p["capture"]["captured"], true, "{p}");
    assert_eq!(p["capture"]["file"], saved_s);
    assert_eq!(kind(&lines), "blocked_on_name");
    let v = verdict(&lines, 0);
    assert_eq!(v["outcome"], "closed_after_client_hello", "{v}");
    assert_eq!(v["cause"], "firewall_block");
    assert_eq!(v["sni"], "blocked.test");
    assert_eq!(v["file"], saved_s);
    assert_eq!(names(&lines), ["agent", "small_hello", "control_name"]);
    let control = verdict(&lines, 2);
    assert_eq!(control["server_hello"]["version"], "TLS 1.3", "{control}");
    // `analyze` on the saved packets gives the same verdicts, frame for frame.
    let run = common::analyze_json(&[&saved], &[]);
    for i in 0..3 {
        let mine = verdict(&lines, i);
        let theirs = run
            .connections
            .iter()
            .find(|c| c["id"] == mine["id"])
            .unwrap();
        for k in [
            "outcome",
            "cause",
            "client",
            "server",
            "decisive_frame",
            "evidence",
        ] {
            assert_eq!(mine[k], theirs[k], "{k}");
        }
    }

    // The same over IPv6.
    let (_, lines, _) = probe(
        &place,
        &[
            &format!("[::1]:{}", s.filter_fin),
            "--sni",
            "blocked.test",
            t[0],
            t[1],
        ],
    );
    assert_eq!(kind(&lines), "blocked_on_name");
    let v = verdict(&lines, 0);
    assert_eq!(v["outcome"], "closed_after_client_hello", "{v}");
    assert_eq!(v["server"], format!("[::1]:{}", s.filter_fin));

    // A RST from the filter.
    let (_, lines, _) = probe(
        &place,
        &[&at(s.filter_rst), "--sni", "blocked.test", t[0], t[1]],
    );
    assert_eq!(verdict(&lines, 0)["outcome"], "reset_after_client_hello");

    // The old-suite server: the alert's verdict names the cause.
    let (_, lines, _) = probe(
        &place,
        &[&at(s.old_suite), "--sni", "allowed.test", t[0], t[1]],
    );
    assert_eq!(kind(&lines), "offer_refused_tls12_accepted");
    let v = verdict(&lines, 0);
    assert_eq!(
        (v["outcome"].as_str(), v["cause"].as_str()),
        (Some("server_alert"), Some("cipher_mismatch")),
        "{v}"
    );

    // The first-segment middlebox: the packets show the ClientHello in two segments, then silence.
    let (_, lines, _) = probe(
        &place,
        &[
            &at(s.first_segment),
            "--sni",
            "allowed.test",
            "--timeout",
            "1",
        ],
    );
    assert_eq!(kind(&lines), "large_client_hello");
    let v = verdict(&lines, 0);
    assert_eq!(v["outcome"], "silence_after_client_hello", "{v}");
    assert_eq!(v["cause"], "large_client_hello", "{v}");
    assert_eq!(v["client_hello"]["segments"], 2, "{v}");

    // A proxy's 403, in the packets.
    let (_, lines, _) = probe(
        &place,
        &[
            "allowed.test:4433",
            "--proxy",
            &at(s.proxy_deny),
            t[0],
            t[1],
        ],
    );
    let v = verdict(&lines, 0);
    assert_eq!(
        (v["outcome"].as_str(), v["cause"].as_str()),
        (Some("proxy_refused"), Some("proxy_denied")),
        "{v}"
    );

    // Silence after the ClientHello.
    let (_, lines, _) = probe(
        &place,
        &[
            &at(s.silent),
            "--sni",
            "x.test",
            "--timeout",
            "0.7",
            "--single",
        ],
    );
    assert_eq!(names(&lines), ["agent"]);
    assert_eq!(verdict(&lines, 0)["outcome"], "silence_after_client_hello");

    // HTTP instead of TLS.
    let (_, lines, _) = probe(&place, &[&at(s.http), t[0], t[1]]);
    assert_eq!(verdict(&lines, 0)["outcome"], "server_not_tls");

    // A closed port, and a port whose SYNs are dropped.
    let (_, lines, _) = probe(&place, &[&at(4448), t[0], t[1]]);
    assert_eq!(kind(&lines), "tcp_refused");
    assert_eq!(verdict(&lines, 0)["outcome"], "syn_rejected");
    let (code, lines, _) = probe(&place, &[&at(4447), "--timeout", "1.2"]);
    assert_eq!(code, 1);
    assert_eq!(kind(&lines), "tcp_unanswered");
    assert_eq!(attempts(&lines)[0]["tcp"], "timed_out");
    assert_eq!(verdict(&lines, 0)["outcome"], "syn_unanswered");

    // TLS works; the certificate attempt is judged too, but ended by the probe.
    let (code, lines, _) = probe(&place, &[&at(s.ok), "--sni", "allowed.test", t[0], t[1]]);
    assert_eq!((code, kind(&lines)), (0, "tls_ok"));
    for a in attempts(&lines) {
        assert_eq!(a["end"], "probe_stopped");
        assert!(a["connection_id"].is_u64());
    }
    // A name with two addresses (the namespace's own hosts file, which `ip netns exec` mounts
    // over /etc/hosts): --all-addresses probes each, with its own capture and conclusion.
    let hosts = PathBuf::from(format!("/etc/netns/{}", ns.0));
    std::fs::create_dir_all(&hosts).unwrap();
    std::fs::write(
        hosts.join("hosts"),
        "127.0.0.1 allowed.test\n::1 allowed.test\n",
    )
    .unwrap();
    let (code, lines, out) = probe(
        &place,
        &[
            "allowed.test:4433",
            "--all-addresses",
            "--single",
            t[0],
            t[1],
        ],
    );
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let probes: Vec<&Value> = lines.iter().filter(|l| l["type"] == "probe").collect();
    let mut probed: Vec<&str> = probes
        .iter()
        .map(|p| p["target"]["address"].as_str().unwrap())
        .collect();
    // (In the order the resolver gives them.)
    probed.sort_unstable();
    assert_eq!(probed, ["127.0.0.1", "::1"], "{lines:#?}");
    for p in &probes {
        assert_eq!(p["conclusion"]["kind"], "tls_ok");
        assert_eq!(p["target"]["addresses"].as_array().unwrap().len(), 2);
        let id = &p["attempts"][0]["connection_id"];
        let conn = lines
            .iter()
            .find(|l| l["type"] == "connection" && &l["id"] == id)
            .unwrap();
        let server = conn["server"].as_str().unwrap();
        let want = p["target"]["address"].as_str().unwrap();
        assert!(server.contains(want), "{server} is not {want}");
    }
    let _ = std::fs::remove_dir_all(&hosts);

    // The text view says what the packets show.
    let mut c = place.cmd(BIN);
    let out = c
        .args([
            "probe",
            &at(s.filter_fin),
            "--sni",
            "blocked.test",
            t[0],
            t[1],
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Conclusion: blocked on the name blocked.test"),
        "{text}"
    );
    assert!(text.contains("CLOSED_AFTER_CLIENT_HELLO"), "{text}");
    assert!(text.contains("Ladder:"), "{text}");
    drop(ns);
    let _ = std::fs::remove_dir_all(&dir);
}
