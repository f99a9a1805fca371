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
            "8",
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
    let _ = std::fs::remove_dir_all(&dir);
}
