//! Helpers shared by the integration tests: run the real binary, parse its JSON lines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every capture shipped in `captures/` (pcap and pcapng), sorted.
pub fn shipped_captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("captures"))
        .expect("captures/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    v
}

/// The peers corpus (beside the repository), if present.
pub fn peers() -> Option<PathBuf> {
    let p = root().join("../shared/corpus/peers");
    p.is_dir().then_some(p)
}

/// Output of one run.
pub struct Run {
    pub status: i32,
    pub connections: Vec<Value>,
    pub summary: Option<Value>,
    pub stderr: String,
    pub stdout: String,
}

/// Run `tlsautopsy analyze --json` with extra arguments.
pub fn analyze_json(files: &[&Path], extra: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"));
    cmd.arg("analyze").arg("--json").args(extra);
    for f in files {
        cmd.arg(f);
    }
    let out = cmd.output().expect("run tlsautopsy");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let mut connections = Vec::new();
    let mut summary = None;
    for line in stdout.lines() {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
        match v["type"].as_str() {
            Some("connection") => connections.push(v),
            Some("summary") => summary = Some(v),
            other => panic!("unknown line type {other:?}"),
        }
    }
    Run {
        status: out.status.code().unwrap_or(-1),
        connections,
        summary,
        stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        stdout,
    }
}

/// Run `tlsautopsy` with arbitrary arguments: (status, stdout, stderr).
pub fn tlsautopsy(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(args)
        .output()
        .expect("run tlsautopsy");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// What `editcap -s N` does to a classic little-endian pcap: every record keeps at most `snaplen`
/// captured bytes, with its original length unchanged.
pub fn snaplen_cut(pcap: &[u8], snaplen: usize) -> Vec<u8> {
    assert!(
        pcap.len() >= 24 && pcap[..4] == [0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian µs pcap expected"
    );
    let mut out = pcap[..24].to_vec();
    out[16..20].copy_from_slice(&(snaplen as u32).to_le_bytes());
    let mut pos = 24;
    while pos + 16 <= pcap.len() {
        let incl =
            u32::from_le_bytes(pcap[pos + 8..pos + 12].try_into().expect("4 bytes")) as usize;
        let keep = incl.min(snaplen);
        out.extend_from_slice(&pcap[pos..pos + 8]);
        out.extend_from_slice(&(keep as u32).to_le_bytes());
        out.extend_from_slice(&pcap[pos + 12..pos + 16]);
        out.extend_from_slice(&pcap[pos + 16..pos + 16 + keep]);
        pos += 16 + incl;
    }
    out
}

/// The same pcapng (little-endian) with every Enhanced Packet Block's data cut to `snaplen` bytes,
/// as a capture taken with that snaplen would have it; other blocks are kept as they are.
pub fn snaplen_cut_pcapng(pcapng: &[u8], snaplen: usize) -> Vec<u8> {
    assert!(
        pcapng.len() >= 28
            && pcapng[..4] == [0x0a, 0x0d, 0x0d, 0x0a]
            && pcapng[8..12] == [0x4d, 0x3c, 0x2b, 0x1a],
        "little-endian pcapng expected"
    );
    let u32_at =
        |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    let mut out = Vec::with_capacity(pcapng.len());
    let mut pos = 0;
    while pos + 12 <= pcapng.len() {
        let (kind, len) = (u32_at(pcapng, pos), u32_at(pcapng, pos + 4) as usize);
        let block = &pcapng[pos..pos + len];
        if kind == 6 {
            let caplen = u32_at(block, 20) as usize;
            let keep = caplen.min(snaplen);
            let options = &block[28 + caplen.next_multiple_of(4)..len - 4];
            let mut body = block[8..20].to_vec();
            body.extend_from_slice(&(keep as u32).to_le_bytes());
            body.extend_from_slice(&block[24..28]);
            body.extend_from_slice(&block[28..28 + keep]);
            body.resize(body.len().next_multiple_of(4), 0);
            body.extend_from_slice(options);
            let total = (body.len() + 12) as u32;
            out.extend_from_slice(&6u32.to_le_bytes());
            out.extend_from_slice(&total.to_le_bytes());
            out.extend_from_slice(&body);
            out.extend_from_slice(&total.to_le_bytes());
        } else {
            out.extend_from_slice(block);
        }
        pos += len;
    }
    out
}

/// A classic pcap file (little-endian, microseconds) written by hand.
pub struct Pcap(pub Vec<u8>);

impl Pcap {
    /// A file header for `linktype` (1 Ethernet, 101 raw IP, ...).
    pub fn new(linktype: u32) -> Pcap {
        let mut b = Vec::with_capacity(1 << 20);
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&262_144u32.to_le_bytes());
        b.extend_from_slice(&linktype.to_le_bytes());
        Pcap(b)
    }

    /// One packet record; `origlen` as the record claims it (at least the captured length).
    pub fn frame_cut(&mut self, ts_us: u64, data: &[u8], origlen: u32) {
        let b = &mut self.0;
        b.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&origlen.max(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
    }

    /// One whole packet.
    pub fn frame(&mut self, ts_us: u64, data: &[u8]) {
        self.frame_cut(ts_us, data, data.len() as u32);
    }
}

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// An IPv4 header (no options) for `payload_len` bytes of `proto`; fragment offset in bytes.
pub fn ipv4_header(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    payload_len: usize,
    id: u16,
    frag_offset: usize,
    more_fragments: bool,
) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let frag = ((frag_offset / 8) as u16) | if more_fragments { 0x2000 } else { 0 };
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&id.to_be_bytes());
    h.extend_from_slice(&frag.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut sum: u32 = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    h[10..12].copy_from_slice(&ck.to_be_bytes());
    h
}

/// A TCP segment (20-byte header, checksum left 0).
pub fn tcp_segment(
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut t = Vec::with_capacity(20 + payload.len());
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags]);
    t.extend_from_slice(&65_535u16.to_be_bytes());
    t.extend_from_slice(&[0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

/// A raw IPv4 packet (LINKTYPE 101) carrying one TCP segment.
pub fn ipv4_tcp(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let seg = tcp_segment(src.1, dst.1, seq, ack, flags, payload);
    let mut p = ipv4_header(src.0, dst.0, 6, seg.len(), 1, 0, false);
    p.extend_from_slice(&seg);
    p
}

/// A TLS record.
pub fn tls_record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut r = vec![content_type, 3, 1];
    r.extend_from_slice(&(body.len() as u16).to_be_bytes());
    r.extend_from_slice(body);
    r
}

/// A handshake record whose message header claims `claimed` body bytes but carries only `body`
/// (the record's own length tells the truth about what it carries).
pub fn handshake_claim(msg_type: u8, claimed: u32, body: &[u8]) -> Vec<u8> {
    let mut m = vec![msg_type];
    m.extend_from_slice(&claimed.to_be_bytes()[1..]);
    m.extend_from_slice(body);
    tls_record(22, &m)
}

/// Write `bytes` to a fresh file under the system temp dir and return its path.
pub fn temp_file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsautopsy-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write tmp file");
    p
}

/// Run the binary with `args` under an address-space cap (`ulimit -v`, KiB) and a wall-clock limit;
/// report its exit status (None when killed by a signal or the time limit), peak RSS in KiB (from
/// the binary's own VmHWM report), elapsed time and output.
pub struct Bounded {
    pub status: Option<i32>,
    pub timed_out: bool,
    pub peak_rss_kib: Option<u64>,
    pub elapsed: std::time::Duration,
    pub stdout: String,
    pub stderr: String,
}

pub fn run_bounded(args: &[&str], vmem_kib: u64, limit: std::time::Duration) -> Bounded {
    use std::io::Read;
    let start = std::time::Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {vmem_kib}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(args)
        .env("TLSAUTOPSY_REPORT_PEAK_RSS", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tlsautopsy");
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stdout = String::from_utf8_lossy(&out_t.join().expect("stdout thread")).to_string();
    let stderr = String::from_utf8_lossy(&err_t.join().expect("stderr thread")).to_string();
    let peak_rss_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("tlsautopsy: peak RSS "))
        .and_then(|v| v.trim_end_matches(" KiB").parse().ok());
    Bounded {
        status: status.code(),
        timed_out,
        peak_rss_kib,
        elapsed,
        stdout,
        stderr,
    }
}

/// The summary line of `--json` output.
pub fn json_summary(stdout: &str) -> Option<Value> {
    stdout.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l)
            .ok()
            .filter(|v| v["type"] == "summary")
    })
}

/// `tshark -T fields` output, one Vec per packet (`filter` empty: every packet; `extra`: more tshark
/// arguments).
pub fn tshark_fields(
    file: &Path,
    filter: &str,
    fields: &[&str],
    extra: &[&str],
) -> Vec<Vec<String>> {
    let mut cmd = std::process::Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file).args(extra);
    if !filter.is_empty() {
        cmd.args(["-Y", filter]);
    }
    cmd.args(["-T", "fields", "-E", "separator=\t"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    assert!(
        out.status.success(),
        "tshark {} {filter:?}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Every capture file (pcap, pcapng, cap) below `dir`, sorted.
pub fn capture_files_in(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng" | "cap")
            ) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Runs `tlsautopsy-gencap` on the shipped scenario captures with `args`, writing `out` (and
/// `out.expected.json`).
pub fn gencap(out: &Path, args: &[&str]) {
    let st = Command::new(env!("CARGO_BIN_EXE_tlsautopsy-gencap"))
        .args(args)
        .arg("--captures")
        .arg(root().join("captures"))
        .arg("--out")
        .arg(out)
        .status()
        .expect("run gencap");
    assert!(st.success(), "tlsautopsy-gencap {args:?} failed");
}

/// The python3 that runs the servers of `captures/tools`: Debian's, since a pyenv shim would put a
/// process between us and the PID we stop.
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// `prog` is on the PATH.
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// The tests run as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Why this machine cannot run a test that needs `tools` (and root, when `root`), if it cannot.
/// CI installs the tools (.ci/run): there, a missing tool is a failure, not a skip.
pub fn cannot_run(tools: &[&str], root: bool) -> Option<String> {
    if root && !is_root() {
        return Some("needs root".into());
    }
    let missing: Vec<&str> = tools.iter().copied().filter(|t| !have(t)).collect();
    if missing.is_empty() {
        return None;
    }
    let msg = format!("needs {}", missing.join(", "));
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    Some(msg)
}

/// Children started by a test: killed (SIGKILL, by PID) and reaped on drop.
#[derive(Default)]
pub struct Procs(pub Vec<Child>);

impl Procs {
    /// Starts `c` with its output discarded; returns its PID.
    pub fn spawn(&mut self, mut c: Command) -> u32 {
        let child = c
            .stdin(Stdio::piped()) // never written: openssl s_server stops at EOF
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a test server");
        let pid = child.id();
        self.0.push(child);
        pid
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Waits (at most 10 s) until TCP `ports` listen, as `ss -Hltn` run by `ss()` shows them (on this
/// host, or in a namespace).
pub fn wait_listening(mut ss: impl FnMut() -> Command, ports: &[u16]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = ss().args(["-Hltn"]).output().expect("run ss");
        let s = String::from_utf8_lossy(&out.stdout);
        if ports.iter().all(|p| s.contains(&format!(":{p} "))) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "servers not listening: {s}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A self-signed RSA certificate for `name` (also its subjectAltName), made by `openssl req` in
/// `dir`: (certificate, key) PEM files.
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let st = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
        ])
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", &format!("subjectAltName=DNS:{name}")])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run openssl req");
    assert!(st.success(), "openssl req");
    (cert, key)
}

/// A network namespace with its loopback up, for tests run as root; deleted on drop, with its own
/// /etc files (`/etc/netns/NAME`, which `ip netns exec` mounts over /etc) if a test made them.
pub struct Netns(pub String);

impl Netns {
    /// `None` when it cannot be made (not root).
    pub fn new(tag: &str) -> Option<Netns> {
        let name = format!("tlsa-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let ns = Netns(name);
        ns.run("ip", &["link", "set", "lo", "up"]);
        Some(ns)
    }

    /// A command run inside the namespace (`ip netns exec` execs it: its PID is the program's).
    pub fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, prog]);
        c
    }

    /// Runs `prog args` inside the namespace; it must succeed.
    pub fn run(&self, prog: &str, args: &[&str]) {
        let st = self
            .cmd(prog)
            .args(args)
            .stdin(Stdio::null())
            .status()
            .expect("run a command in the namespace");
        assert!(st.success(), "{prog} {args:?}");
    }

    /// Wait (at most 10 s) until TCP `ports` listen in the namespace.
    pub fn wait_listening(&self, ports: &[u16]) {
        wait_listening(|| self.cmd("ss"), ports);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
        let _ = std::fs::remove_dir_all(format!("/etc/netns/{}", self.0));
        // (/etc/netns itself only if that left it empty.)
        let _ = std::fs::remove_dir("/etc/netns");
    }
}
