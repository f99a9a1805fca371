//! The summary per server address (`servers`): every connection counted once, the names the
//! connections asked for, and the pattern across them. `snat_exhaustion.pcap` is a real SNAT port
//! shortage (captures/make.sh: a router with two source ports, held by two open connections while
//! two more try): its SYN failures to one destination that accepts the others are
//! `intermittent_syn_failures`; no other shipped capture shows the pattern.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

#[test]
fn snat_port_exhaustion_is_intermittent_syn_failures_to_one_server() {
    let f = common::root().join("captures/snat_exhaustion.pcap");
    let run = common::analyze_json(&[&f], &[]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    let s = run.summary.expect("summary");
    let servers = s["servers"].as_array().expect("servers");
    assert_eq!(servers.len(), 1, "{s}");
    let t = &servers[0];
    assert_eq!(t["server"], "198.51.100.20:443");
    assert_eq!(t["connections"], 6);
    assert_eq!(t["failed"], 2);
    assert_eq!(t["ok"], 4);
    assert_eq!(t["outcomes"]["syn_unanswered"], 2);
    assert_eq!(t["outcomes"]["handshake_complete"], 4);
    // The SYN-only connections have no name; the others asked for the same SNI.
    assert_eq!(
        t["names"],
        serde_json::json!(["global.handler.control.monitor.azure.com"])
    );
    assert_eq!(t["pattern"], "intermittent_syn_failures");
    // The unanswered connections came between accepted ones (by first packet), as the script made them.
    let order: Vec<&str> = run
        .connections
        .iter()
        .map(|c| c["outcome"].as_str().unwrap_or_default())
        .collect();
    let first_fail = order.iter().position(|o| *o == "syn_unanswered");
    let last_ok = order.iter().rposition(|o| *o == "handshake_complete");
    assert!(first_fail.is_some() && last_ok > first_fail, "{order:?}");

    let (_, text, _) = common::tlsautopsy(&["analyze", f.to_str().unwrap_or_default()]);
    assert!(text.contains("  by server (failed first):"), "{text}");
    assert!(
        text.contains(
            "global.handler.control.monitor.azure.com (Azure Monitor Agent): 6 connections: 2 failed, 4 ok"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "intermittent: 2 of 6 connections got no SYN-ACK while 4 others were accepted"
        ),
        "{text}"
    );
}

/// Per server, the connections add up to the summary's and to the connection lines' own servers;
/// names are the SNI / CONNECT target / Host the lines show; the pattern only where it is.
#[test]
fn servers_add_up_to_the_connection_lines() {
    let mut files = common::shipped_captures();
    if let Some(peers) = common::peers() {
        files.extend(common::capture_files_in(&peers));
    }
    let mut patterned = Vec::new();
    for f in &files {
        let run = common::analyze_json(&[f], &[]);
        let Some(s) = run.summary else { continue };
        let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for c in &run.connections {
            let server = c["server"].as_str().unwrap_or_default().to_string();
            let e = want.entry(server).or_default();
            e.0 += 1;
            e.1 += u64::from(c["class"] == "failed");
        }
        let got: BTreeMap<String, (u64, u64)> = s["servers"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|t| {
                        (
                            t["server"].as_str().unwrap_or_default().to_string(),
                            (
                                t["connections"].as_u64().unwrap_or(0),
                                t["failed"].as_u64().unwrap_or(0),
                            ),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(got, want, "{}", f.display());
        // Failed first.
        let failed: Vec<u64> = s["servers"]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|t| t["failed"].as_u64().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        assert!(failed.windows(2).all(|w| w[0] >= w[1]), "{}", f.display());
        for t in s["servers"].as_array().into_iter().flatten() {
            for n in t["names"].as_array().into_iter().flatten() {
                assert!(
                    run.connections.iter().any(|c| c["server"] == t["server"]
                        && (c["sni"] == *n
                            || c["proxy"]["target"] == *n
                            || c["explanation"]
                                .as_str()
                                .is_some_and(|e| e.contains(n.as_str().unwrap_or("?"))))),
                    "{}: name {n} not seen on {}",
                    f.display(),
                    t["server"]
                );
            }
            if !t["pattern"].is_null() {
                patterned.push(f.file_name().map(|n| n.to_string_lossy().to_string()));
            }
        }
    }
    assert_eq!(patterned, vec![Some("snat_exhaustion.pcap".to_string())]);
}

/// `--threads 2` tallies the servers exactly as one thread does (the merger counts in one thread's
/// order; the worker frees the connection's TLS state before, so the name travels in the verdict).
#[test]
fn threads_tally_servers_as_one_thread() {
    let f = common::root().join("captures/snat_exhaustion.pcap");
    let one = common::analyze_json(&[&f], &[]);
    let two = common::analyze_json(&[&f], &["--threads", "2"]);
    assert_eq!(one.stdout, two.stdout);
    let s: &Value = two.summary.as_ref().expect("summary");
    assert_eq!(s["servers"][0]["pattern"], "intermittent_syn_failures");
}
