//! Frame numbers are Wireshark's: the decisive frame we cite is the frame tshark shows carrying the
//! same thing (a RST/FIN, an alert, an ICMP error, an HTTP response). Skipped when tshark is absent.

mod common;

use std::process::Command;

fn tshark_frames(file: &std::path::Path, filter: &str) -> Option<Vec<u64>> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", "frame.number"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect(),
    )
}

#[test]
fn decisive_frames_match_tshark() {
    if Command::new("tshark").arg("--version").output().is_err() {
        eprintln!("skipped: tshark is not installed");
        return;
    }
    let files = common::shipped_captures();
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in &files {
        let run = common::analyze_json(&[f], &[]);
        for c in &run.connections {
            let Some(frame) = c["decisive_frame"].as_u64() else {
                continue;
            };
            let filter = match c["outcome"].as_str().unwrap_or("") {
                "reset_after_client_hello" | "syn_rejected" => "tcp.flags.reset == 1",
                "closed_after_client_hello" => "tcp.flags.fin == 1",
                "syn_unreachable" => "icmp || icmpv6",
                "server_alert" | "client_alert" if c["alert_code"].is_u64() => {
                    "tls.alert_message || tcp.len > 0"
                }
                "http_blocked" | "proxy_refused" => "tcp.len > 0",
                _ => continue,
            };
            let Some(frames) = tshark_frames(f, filter) else {
                continue;
            };
            checked += 1;
            if !frames.contains(&frame) {
                failures.push(format!("{}: {} decisive frame {frame} is not among tshark's {filter:?} frames {frames:?}", f.display(), c["outcome"]));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 5,
        "only {checked} verdicts were checked against tshark"
    );
}
