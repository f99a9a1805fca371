//! The command line: exit status, error messages a person understands, text output shape.

mod common;

use std::io::Write;

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsautopsy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let p = dir.join(name);
    std::fs::File::create(&p)
        .and_then(|mut f| f.write_all(bytes))
        .expect("write tmp");
    p
}

#[test]
fn missing_file_is_a_clear_error_with_exit_2() {
    let (code, _out, err) = common::tlsautopsy(&["analyze", "/nonexistent/capture.pcap"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/nonexistent/capture.pcap"),
        "stderr should name the file: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn directory_is_a_clear_error() {
    let dir = std::env::temp_dir();
    let (code, _out, err) = common::tlsautopsy(&["analyze", dir.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(err.to_lowercase().contains("directory"), "{err}");
}

#[test]
fn empty_and_non_capture_files_are_clear_errors() {
    let empty = tmp("empty.pcap", b"");
    let (code, _o, err) = common::tlsautopsy(&["analyze", empty.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(err.to_lowercase().contains("empty"), "{err}");

    let text = tmp("notes.pcap", b"this is a text file, not a capture\n");
    let (code, _o, err) = common::tlsautopsy(&["analyze", text.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(err.to_lowercase().contains("text"), "{err}");
}

#[test]
fn usage_error_exits_2() {
    let (code, _o, _e) = common::tlsautopsy(&["analyze"]);
    assert_eq!(code, 2);
    let (code, _o, _e) = common::tlsautopsy(&["frobnicate"]);
    assert_eq!(code, 2);
}

#[test]
fn one_unreadable_file_does_not_stop_the_others() {
    let good = common::root().join("captures/tls13_ok.pcap");
    let run = common::analyze_json(&[std::path::Path::new("/nonexistent.pcap"), &good], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(!run.connections.is_empty());
    let summary = run.summary.expect("summary");
    assert!(summary["inputs"][0]["error"].is_string());
    assert!(run.stderr.contains("/nonexistent.pcap"));
}

#[test]
fn exit_status_follows_the_verdicts() {
    let ok = common::analyze_json(&[&common::root().join("captures/tls13_ok.pcap")], &[]);
    assert_eq!(ok.status, 0);
    let bad = common::analyze_json(
        &[&common::root().join("captures/azfw_close_after_ch.pcap")],
        &[],
    );
    assert_eq!(bad.status, 1);
}

#[test]
fn text_report_has_summary_evidence_filter_and_ladder() {
    let f = common::root().join("captures/azfw_close_after_ch.pcap");
    let (code, out, _err) = common::tlsautopsy(&["analyze", f.to_str().expect("utf8")]);
    assert_eq!(code, 1);
    for needle in [
        "CLOSED_AFTER_CLIENT_HELLO",
        "Evidence:",
        "Wireshark: ip.addr ==",
        "Ladder:",
        "ClientHello",
        "== Summary ==",
    ] {
        assert!(out.contains(needle), "text output lacks {needle:?}:\n{out}");
    }
    // Healthy connections are hidden unless --all.
    let ok = common::root().join("captures/tls13_ok.pcap");
    let (_c, out, _e) = common::tlsautopsy(&["analyze", ok.to_str().expect("utf8")]);
    assert!(!out.contains("HANDSHAKE_COMPLETE"));
    let (_c, out, _e) = common::tlsautopsy(&["analyze", "--all", ok.to_str().expect("utf8")]);
    assert!(out.contains("HANDSHAKE_COMPLETE"), "{out}");
}

#[test]
fn stdin_is_read_with_dash() {
    let f = common::root().join("captures/tls13_ok.pcap");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(["analyze", "--json", "-"])
        .stdin(std::fs::File::open(&f).expect("open"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"outcome\":\"handshake_complete\""),
        "{text}"
    );
}

#[test]
fn truncated_capture_is_analysed_as_far_as_it_goes_with_a_warning() {
    let f = common::root().join("captures/tls12_ok.pcap");
    let bytes = std::fs::read(&f).expect("read");
    let cut = tmp("cut.pcap", &bytes[..bytes.len() - 7]);
    let run = common::analyze_json(&[&cut], &[]);
    assert_ne!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("truncated"),
        "{}",
        run.stderr
    );
    let summary = run.summary.expect("summary");
    assert!(summary["inputs"][0]["warnings"]
        .as_array()
        .is_some_and(|w| !w.is_empty()));
    assert_eq!(run.connections.len(), 1);
}

#[test]
fn frame_numbers_are_per_file_and_files_are_named_in_evidence() {
    let a = common::root().join("captures/tls13_ok.pcap");
    let b = common::root().join("captures/azfw_close_after_ch.pcap");
    let run = common::analyze_json(&[&a, &b], &[]);
    assert_eq!(run.status, 1);
    let blocked = run
        .connections
        .iter()
        .find(|c| c["outcome"] == "closed_after_client_hello")
        .expect("blocked conn");
    assert_eq!(blocked["file"], b.to_str().expect("utf8"));
    let ev = blocked["evidence"].as_array().expect("evidence");
    assert!(ev.iter().all(|e| e["file"] == b.to_str().expect("utf8")));
    // Frame numbers restart at 1 in the second file, as in Wireshark.
    assert!(
        ev.iter()
            .any(|e| e["frame"].as_u64().is_some_and(|n| n <= 3)),
        "{ev:?}"
    );
}
