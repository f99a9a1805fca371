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
    let st = Command::new(env!("CARGO_BIN_EXE_tlsautopsy-gencap"))
        .args([
            "--size-mb",
            "20",
            "--bulk-kb",
            "256",
            "--bulk-every",
            "10",
            "--captures",
        ])
        .arg(common::root().join("captures"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("run gencap");
    assert!(st.success());
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

    // The file is larger than the reader's 8 MB mapping window, so frames straddle windows: reading
    // through the mapping and with read() (`--no-mmap`, as for standard input) must agree exactly.
    let path = out.to_str().expect("utf-8 temp path");
    let mapped = common::tlsautopsy(&["analyze", "--json", path]);
    let read = common::tlsautopsy(&["analyze", "--json", "--no-mmap", path]);
    assert!(std::fs::metadata(&out).expect("size").len() > 16 << 20);
    assert_eq!(mapped.0, read.0);
    assert!(mapped.1 == read.1, "mmap and read() outputs differ");
    assert!(mapped.1.lines().count() > 100);
    let _ = std::fs::remove_dir_all(&dir);
}
