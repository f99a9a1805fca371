//! How a connection whose handshake completed ended afterwards (`after_handshake`), on captures a
//! real router made: `idle_reset.pcap` (its conntrack forgot the flow after 3 s of silence and
//! answered the client's next line with a reset) and `reset_after_handshake.pcap` (nftables reset
//! a flowing connection in the server's name). Every other completed connection, shipped and peer,
//! must end without a finding, with the frame tshark sees as its first FIN or RST.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    common::root().join("captures").join(name)
}

/// The only connection of a shipped capture.
fn only_connection(file: &Path) -> (Value, Value) {
    let run = common::analyze_json(&[file], &[]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.connections.len(), 1, "{}", run.stdout);
    (
        run.connections[0].clone(),
        run.summary.expect("a summary line"),
    )
}

/// The frame numbers of `filter` in `file`, as tshark reads them.
fn tshark_frames(file: &Path, filter: &str) -> Vec<u64> {
    common::tshark_fields(file, filter, &["frame.number"], &[])
        .iter()
        .filter_map(|r| r.first()?.parse().ok())
        .collect()
}

#[test]
fn idle_reset_by_the_path_is_found_and_shown() {
    if let Some(why) = common::cannot_run(&["tshark"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let f = capture("idle_reset.pcap");
    let (c, summary) = only_connection(&f);
    assert_eq!(c["outcome"], "handshake_complete");
    assert_eq!(c["class"], "ok");
    let a = &c["after_handshake"];
    assert_eq!(a["ended"], "reset", "{a}");
    // The router's reset has TTL 64, the server's SYN-ACK 63: the provenance check names a middlebox.
    assert_eq!(a["by"], "middlebox", "{a}");
    assert_eq!(a["finding"], "idle_reset", "{a}");
    let rst = tshark_frames(&f, "tcp.flags.reset==1 && ip.ttl==64");
    assert_eq!(rst.len(), 1);
    assert_eq!(a["frame"].as_u64(), Some(rst[0]), "{a}");
    // The client stayed silent 6 s (captures/make.sh), then its line drew the reset at once.
    let silence: Vec<f64> =
        common::tshark_fields(&f, "frame.time_delta>=5", &["frame.time_delta"], &[])
            .iter()
            .filter_map(|r| r.first()?.parse().ok())
            .collect();
    assert_eq!(silence.len(), 1, "one long silence in the capture");
    let idle = a["idle_ms"].as_f64().expect("idle_ms");
    assert!(
        (idle - silence[0] * 1000.0).abs() < 0.01,
        "idle_ms {idle} is the silence before the line the reset answered ({} s)",
        silence[0]
    );
    assert!(a["after_ms"].as_f64().expect("after_ms") > idle);
    // Said, cited and counted.
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(text.starts_with("The TLS handshake completed"), "{text}");
    assert!(text.contains("without a packet, a middlebox"), "{text}");
    assert!(
        text.contains("it had forgotten the idle connection"),
        "{text}"
    );
    assert!(
        !text.contains("at least 4 minutes"),
        "a 6 s silence: {text}"
    );
    let last = c["evidence"]
        .as_array()
        .and_then(|e| e.last())
        .expect("evidence");
    assert_eq!(last["frame"].as_u64(), Some(rst[0]));
    assert_eq!(last["from"], "middlebox");
    assert_eq!(summary["after_handshake"]["idle_reset"], 1, "{summary}");
    // The text report shows it without --all.
    let (code, out, err) = common::tlsautopsy(&["analyze", f.to_str().unwrap_or_default()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("HANDSHAKE_COMPLETE, then IDLE_RESET"), "{out}");
    assert!(
        out.contains("1 completed handshake was reset afterwards by the path (1 idle_reset)"),
        "{out}"
    );
}

#[test]
fn a_forged_reset_after_the_handshake_is_a_middlebox_reset() {
    if let Some(why) = common::cannot_run(&["tshark"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let f = capture("reset_after_handshake.pcap");
    let (c, summary) = only_connection(&f);
    assert_eq!(c["outcome"], "handshake_complete");
    let a = &c["after_handshake"];
    assert_eq!(a["ended"], "reset", "{a}");
    assert_eq!(a["by"], "middlebox", "{a}");
    assert_eq!(a["finding"], "middlebox_reset", "{a}");
    assert!(a["idle_ms"].as_f64().expect("idle_ms") < 5000.0, "{a}");
    let rst = tshark_frames(&f, "tcp.flags.reset==1");
    assert_eq!(a["frame"].as_u64(), rst.first().copied(), "{a}");
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(
        text.contains("Later a middlebox reset the connection"),
        "{text}"
    );
    let reasons = c["reasons"].to_string();
    assert!(
        reasons.contains("its TTL is 64 while the SYN-ACK"),
        "{reasons}"
    );
    assert_eq!(
        summary["after_handshake"]["middlebox_reset"], 1,
        "{summary}"
    );
}

/// The same packets as `idle_reset.pcap`, with the silence before the client's last line stretched
/// to 4 minutes by editcap (the time shift of the last two frames): the sentence names Azure
/// Firewall's idle timeout. A capture cannot wait 4 minutes in captures/make.sh.
#[test]
fn four_minutes_of_silence_name_azure_firewalls_idle_timeout() {
    if let Some(why) = common::cannot_run(&["editcap", "mergecap", "tshark"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let f = capture("idle_reset.pcap");
    let dir = std::env::temp_dir().join(format!("tlsautopsy-after-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let last = tshark_frames(&f, "frame.time_delta>=5");
    assert_eq!(last.len(), 1);
    let first_late = last[0];
    let total = tshark_frames(&f, "").len() as u64;
    let (early, late, out) = (
        dir.join("early.pcap"),
        dir.join("late.pcap"),
        dir.join("idle240.pcap"),
    );
    let run = |args: &[&str]| {
        let st = Command::new(args[0])
            .args(&args[1..])
            .status()
            .expect("run");
        assert!(st.success(), "{args:?}");
    };
    let s = |p: &Path| p.to_str().unwrap_or_default().to_string();
    run(&[
        "editcap",
        "-r",
        &s(&f),
        &s(&early),
        &format!("1-{}", first_late - 1),
    ]);
    let shifted = dir.join("late0.pcap");
    run(&[
        "editcap",
        "-r",
        &s(&f),
        &s(&shifted),
        &format!("{first_late}-{total}"),
    ]);
    run(&["editcap", "-t", "235", &s(&shifted), &s(&late)]);
    run(&[
        "mergecap",
        "-a",
        "-F",
        "pcap",
        "-w",
        &s(&out),
        &s(&early),
        &s(&late),
    ]);
    let (c, _) = only_connection(&out);
    let a = &c["after_handshake"];
    assert_eq!(a["finding"], "idle_reset", "{a}");
    assert!(a["idle_ms"].as_f64().expect("idle_ms") >= 240_000.0, "{a}");
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(
        text.contains("The silence lasted at least 4 minutes, Azure Firewall's TCP idle timeout."),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every other completed connection (shipped captures, and the peers' when present) ends without a
/// finding, and its `frame` is the first FIN or RST the JSON's `tcp` counters name.
#[test]
fn other_completed_connections_have_no_finding() {
    let mut files = common::shipped_captures();
    if let Some(peers) = common::peers() {
        files.extend(common::capture_files_in(&peers));
    }
    let mut completed = 0;
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let run = common::analyze_json(&[f], &[]);
        for c in &run.connections {
            let a = &c["after_handshake"];
            if c["outcome"] != "handshake_complete" {
                assert!(a.is_null(), "{name}: {c}");
                continue;
            }
            completed += 1;
            if name == "idle_reset.pcap" || name == "reset_after_handshake.pcap" {
                continue;
            }
            assert!(
                a["finding"].is_null(),
                "{name}: a finding where none is: {a}"
            );
            let first = |k: &str| {
                [&c["tcp"]["to_server"][k], &c["tcp"]["to_client"][k]]
                    .iter()
                    .filter_map(|v| v.as_u64())
                    .min()
            };
            match a["ended"].as_str() {
                Some("open") => {
                    assert!(a["frame"].is_null() && a["by"].is_null(), "{name}: {a}");
                    assert!(
                        first("fin").is_none() && first("rst").is_none(),
                        "{name}: {c}"
                    );
                }
                Some("closed") => {
                    assert_eq!(a["frame"].as_u64(), first("fin"), "{name}: {a}");
                }
                Some("reset") => {
                    assert_eq!(a["frame"].as_u64(), first("rst"), "{name}: {a}");
                }
                other => panic!("{name}: ended {other:?}"),
            }
        }
    }
    assert!(completed > 40, "{completed} completed connections");
}
