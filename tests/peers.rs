//! Real captures from other projects' test suites (../shared/corpus/peers, read in place): every one is
//! analysed without a panic, without exit status 2, and within a bounded address space.

mod common;

use std::process::Command;

#[test]
fn every_peer_capture_is_analysed_in_bounded_memory() {
    let Some(peers) = common::peers() else {
        eprintln!("skipped: ../shared/corpus/peers not present");
        return;
    };
    let files = common::capture_files_in(&peers);
    assert!(
        files.len() > 80,
        "expected the whole corpus, found {} files",
        files.len()
    );
    let bin = env!("CARGO_BIN_EXE_tlsautopsy");
    let mut failures = Vec::new();
    for f in &files {
        // 1 GiB of address space: a run that tries to buffer a capture's worth of data or honour an
        // absurd length field dies here.
        let out = Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 1048576; exec \"$0\" analyze --json \"$1\"")
            .arg(bin)
            .arg(f)
            .output()
            .expect("run");
        let code = out.status.code();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let has_summary = stdout
            .lines()
            .last()
            .is_some_and(|l| l.contains("\"type\":\"summary\""));
        if !matches!(code, Some(0) | Some(1)) || !has_summary {
            failures.push(format!(
                "{}: exit {:?}, summary line {}: {}",
                f.display(),
                code,
                has_summary,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(" | ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} captures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
