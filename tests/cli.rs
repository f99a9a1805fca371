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
        // The ladder row's label (rows are labelled only when a ladder may be shown).
        "| ClientHello SNI=global.handler",
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

/// JSON lines alone label no ladder rows, but JSON with an HTML report still draws labelled ladders.
#[test]
fn ladder_labels_follow_the_outputs() {
    let f = common::root().join("captures/azfw_close_after_ch.pcap");
    let html = std::env::temp_dir().join(format!("tlsautopsy-labels-{}.html", std::process::id()));
    let (code, out, err) = common::tlsautopsy(&[
        "analyze",
        "--json",
        "--report",
        html.to_str().expect("utf8"),
        f.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains("\"outcome\":\"closed_after_client_hello\""),
        "{out}"
    );
    let page = std::fs::read_to_string(&html).expect("report written");
    let _ = std::fs::remove_file(&html);
    assert!(
        page.contains("ClientHello SNI=global.handler"),
        "no ladder label in the report"
    );
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
    // Said once, not twice ("...before the cut are analysed; the frames before it were analysed"),
    // and the file named once ("f: f is truncated" before).
    assert_eq!(run.stderr.matches("analysed").count(), 1, "{}", run.stderr);
    let name = cut.to_str().expect("utf8");
    assert_eq!(run.stderr.matches(name).count(), 1, "{}", run.stderr);
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

/// pcapng blocks, little-endian.
fn pcapng_block(btype: u32, body: &[u8]) -> Vec<u8> {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    let mut b = btype.to_le_bytes().to_vec();
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(body);
    b.extend(std::iter::repeat_n(0u8, pad));
    b.extend_from_slice(&len.to_le_bytes());
    b
}

fn pcapng_header() -> Vec<u8> {
    let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    shb.extend_from_slice(&[1, 0, 0, 0]);
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    pcapng_block(0x0a0d_0d0a, &shb)
}

fn pcapng_idb(linktype: u16) -> Vec<u8> {
    let mut idb = linktype.to_le_bytes().to_vec();
    idb.extend_from_slice(&[0, 0]);
    idb.extend_from_slice(&65_535u32.to_le_bytes());
    pcapng_block(1, &idb)
}

fn pcapng_epb(if_id: u32, ts_us: u64, data: &[u8]) -> Vec<u8> {
    let mut epb = if_id.to_le_bytes().to_vec();
    epb.extend_from_slice(&((ts_us >> 32) as u32).to_le_bytes());
    epb.extend_from_slice(&(ts_us as u32).to_le_bytes());
    epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
    epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
    epb.extend_from_slice(data);
    pcapng_block(6, &epb)
}

/// A SYN and a RST on raw IPv4: one failed connection.
fn refused_packets() -> Vec<Vec<u8>> {
    let c = ([10, 0, 0, 1], 40_000);
    let s = ([10, 0, 0, 2], 443);
    vec![
        common::ipv4_tcp(c, s, 100, 0, common::SYN, &[]),
        common::ipv4_tcp(s, c, 0, 101, common::RST | common::ACK, &[]),
    ]
}

fn text_run(path: &std::path::Path) -> (i32, String, String) {
    common::tlsautopsy(&["analyze", path.to_str().expect("utf8")])
}

#[test]
fn etl_file_is_named_with_conversion_advice() {
    // A pktmon ETL file: a 64 KiB WMI buffer whose first event is a system trace header.
    let mut etl = vec![0u8; 4096];
    etl[..4].copy_from_slice(&0x1_0000u32.to_le_bytes());
    etl[0x48..0x4c].copy_from_slice(&[2, 0, 2, 0xc0]);
    // Not named .etl: recognised by its content.
    let p = tmp("PktMon.bin", &etl);
    let (code, out, err) = text_run(&p);
    assert_eq!(code, 2, "{err}");
    for needle in ["ETL", "pktmon etl2pcap", "etl2pcapng"] {
        assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
        assert!(out.contains(needle), "text summary lacks {needle:?}: {out}");
    }
    let run = common::analyze_json(&[&p], &[]);
    assert_eq!(run.status, 2);
    let e = run.summary.expect("summary")["inputs"][0]["error"].to_string();
    assert!(e.contains("pktmon etl2pcap"), "{e}");
}

#[test]
fn truncated_pcap_names_the_cut_and_analyses_what_was_read_in_text_too() {
    let mut pcap = common::Pcap::new(101);
    for (i, p) in refused_packets().iter().enumerate() {
        pcap.frame(1_000_000 + i as u64, p);
    }
    let mut bytes = pcap.0;
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0, 0x45, 0]);
    let p = tmp("disk-full.pcap", &bytes);
    let (code, out, err) = text_run(&p);
    assert_eq!(code, 1, "the two frames before the cut are analysed: {err}");
    assert!(
        err.contains("truncated") && err.contains("after 2 complete frames"),
        "{err}"
    );
    assert!(out.contains("truncated"), "{out}");
    assert!(
        out.contains("CONNECTION_REFUSED") || out.contains("1 failed"),
        "{out}"
    );
    // Cut inside the very first packet: nothing to analyse.
    let first_cut = tmp("cut-first.pcap", &bytes[..24 + 16 + 10]);
    let (code, _out, err) = text_run(&first_cut);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("truncated") && err.contains("after 0 complete frames"),
        "{err}"
    );
}

#[test]
fn damaged_length_field_stops_reading_there_and_keeps_what_was_read() {
    let mut pcap = common::Pcap::new(101);
    for (i, p) in refused_packets().iter().enumerate() {
        pcap.frame(1_000_000 + i as u64, p);
    }
    let mut bytes = pcap.0;
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x4000_0000u32.to_le_bytes());
    bytes.extend_from_slice(&0x4000_0000u32.to_le_bytes());
    bytes.extend_from_slice(&[0x45; 100]);
    let p = tmp("damaged.pcap", &bytes);
    let run = common::analyze_json(&[&p], &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("damaged at byte"), "{}", run.stderr);
    assert_eq!(run.connections.len(), 1);
}

#[test]
fn pcapng_with_an_unknown_link_type_says_so() {
    // Only USER0 (147) frames: nothing can be analysed.
    let mut f = pcapng_header();
    f.extend(pcapng_idb(147));
    for i in 0..3 {
        f.extend(pcapng_epb(0, 1_000_000 + i, &[0xde, 0xad, 0xbe, 0xef]));
    }
    let p = tmp("user0.pcapng", &f);
    let (code, out, err) = text_run(&p);
    assert_eq!(code, 2, "{err}");
    for text in [&out, &err] {
        assert!(text.contains("USER0"), "{text}");
        assert!(text.contains("does not decode"), "{text}");
        assert!(
            text.contains("nothing in this file could be analysed"),
            "{text}"
        );
    }
    let run = common::analyze_json(&[&p], &[]);
    assert_eq!(run.status, 2);
    let s = run.summary.expect("summary");
    assert_eq!(s["skipped"]["unsupported_link_type_147"], 3, "{s}");
    assert!(s["inputs"][0]["warnings"][0]
        .as_str()
        .is_some_and(|w| w.contains("link type USER0")));

    // Beside a supported interface: analysed, and the skipped frames are still said.
    let mut f = pcapng_header();
    f.extend(pcapng_idb(101));
    f.extend(pcapng_idb(147));
    f.extend(pcapng_epb(1, 999_999, &[1, 2, 3]));
    for (i, p) in refused_packets().iter().enumerate() {
        f.extend(pcapng_epb(0, 1_000_000 + i as u64, p));
    }
    let p = tmp("mixed.pcapng", &f);
    let run = common::analyze_json(&[&p], &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(run.stderr.contains("1 of its 3 frames"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("nothing in this file"),
        "{}",
        run.stderr
    );
}

#[test]
fn capture_with_zero_packets_says_there_is_nothing_to_analyse() {
    let pcap = common::Pcap::new(1).0;
    let mut ng = pcapng_header();
    ng.extend(pcapng_idb(1));
    for (name, bytes) in [("header-only.pcap", pcap), ("header-only.pcapng", ng)] {
        let p = tmp(name, &bytes);
        let (code, out, err) = text_run(&p);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains("no packets"), "{name}: {err}");
        assert!(out.contains("no packets"), "{name}: {out}");
        assert!(out.contains("nothing could be analysed"), "{name}: {out}");
        let run = common::analyze_json(&[&p], &[]);
        assert_eq!(run.status, 2);
        let s = run.summary.expect("summary");
        assert_eq!(s["frames"], 0);
        assert!(s["inputs"][0]["warnings"]
            .to_string()
            .contains("no packets"));
    }
    // Beside a capture with packets, the run is not a failure to analyse.
    let empty = tmp("nothing.pcap", &common::Pcap::new(1).0);
    let ok = common::root().join("captures/tls13_ok.pcap");
    let run = common::analyze_json(&[&empty, &ok], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
}

#[test]
fn unreadable_file_is_a_clear_error() {
    let file = tmp("plain-file", b"x");
    let below = file.join("capture.pcap");
    let (code, out, err) = text_run(&below);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read") || err.contains("cannot open"),
        "{err}"
    );
    assert!(err.contains("capture.pcap"), "{err}");
    assert!(out.contains("not analysed"), "{out}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn limit_flags_are_checked_and_shown_in_help() {
    let (code, out, _e) = common::tlsautopsy(&["analyze", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--max-connections",
        "--max-buffer-per-direction",
        "--max-buffer-total",
        "--max-handshake-message",
        "--max-events",
        "--max-ip-fragments",
        "--summary-only",
    ] {
        assert!(out.contains(flag), "help lacks {flag}: {out}");
    }
    let ok = common::root().join("captures/tls13_ok.pcap");
    let (code, _o, err) = common::tlsautopsy(&[
        "analyze",
        "--max-buffer-total",
        "lots",
        ok.to_str().expect("utf8"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("not a size"), "{err}");
    let run = common::analyze_json(&[&ok], &["--max-buffer-total", "1G"]);
    assert_eq!(run.status, 0);
    assert_eq!(
        run.summary.expect("summary")["limits"]["max_buffer_total"]["limit"],
        1u64 << 30
    );
}

/// The README's first command is `cargo run --release -- analyze ...`: with more than one binary
/// (the analyzer and `src/bin/`'s benchmark generator) cargo runs it only if `default-run` names
/// the analyzer.
#[test]
fn readme_cargo_run_picks_the_analyzer() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let first = readme
        .lines()
        .find(|l| l.contains("cargo run"))
        .expect("the README shows a cargo run command");
    assert!(
        first.contains("cargo run --release -- analyze captures/"),
        "{first}"
    );
    let bins = std::fs::read_dir(root.join("src/bin"))
        .map(|d| d.filter_map(Result::ok).count())
        .unwrap_or(0);
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    if bins > 0 {
        assert!(
            manifest
                .lines()
                .any(|l| l.trim() == "default-run = \"tlsautopsy\""),
            "{bins} more binaries in src/bin: Cargo.toml needs default-run = \"tlsautopsy\""
        );
    }
}
