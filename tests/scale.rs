//! Correctness at scale (small): the benchmark generator replays the scenario captures with fresh
//! addresses, interleaved, with bulk transfers; the analyzer's verdict counts must equal exactly what
//! the generator says it wrote.

mod common;

use std::process::Command;

#[test]
fn generated_capture_verdict_counts_match_the_generator() {
    let dir = std::env::temp_dir().join(format!("tlsautopsy-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let out = dir.join("gen.pcap");
    common::gencap(
        &out,
        &["--size-mb", "20", "--bulk-kb", "256", "--bulk-every", "10"],
    );
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("gen.pcap.expected.json")).expect("expected.json"),
    )
    .expect("json");
    let run = common::analyze_json(&[&out], &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let summary = run.summary.expect("summary");
    assert!(
        expected["connections"].as_u64().is_some_and(|n| n > 100),
        "{expected}"
    );
    assert_eq!(summary["connections"], expected["connections"]);
    assert_eq!(
        summary["outcomes"], expected["outcomes"],
        "verdict counts differ from the generator's"
    );
    assert_eq!(summary["frames"], expected["frames"]);

    // Reading a pipe (standard input: short reads, records split across reads) and the file must
    // agree exactly, on a file far larger than the read buffer.
    let path = out.to_str().expect("utf-8 temp path");
    let file = common::tlsautopsy(&["analyze", "--json", path]);
    let piped = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(["analyze", "--json", "-"])
        .stdin(std::fs::File::open(&out).expect("open"))
        .output()
        .expect("run");
    assert_eq!(Some(file.0), piped.status.code());
    let piped = String::from_utf8_lossy(&piped.stdout).replace("\"-\"", &format!("{path:?}"));
    assert!(file.1 == piped, "file and stdin outputs differ");
    assert!(file.1.lines().count() > 100);
    let _ = std::fs::remove_dir_all(&dir);
}
