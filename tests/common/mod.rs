//! Helpers shared by the integration tests: run the real binary, parse its JSON lines.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
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
