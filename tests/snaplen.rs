//! Snaplen-cut captures are used as far as they go, and what was cut is said, never guessed over.

mod common;

fn cut(name: &str, snaplen: usize) -> std::path::PathBuf {
    let bytes = std::fs::read(common::root().join("captures").join(name)).expect("capture");
    let dir = std::env::temp_dir().join(format!("tlsautopsy-snaplen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let p = dir.join(format!("{snaplen}-{name}"));
    let cut = if name.ends_with(".pcapng") {
        common::snaplen_cut_pcapng(&bytes, snaplen)
    } else {
        common::snaplen_cut(&bytes, snaplen)
    };
    std::fs::write(&p, cut).expect("write");
    p
}

#[test]
fn a_cut_client_hello_is_still_a_client_hello_but_its_offer_is_not_guessed() {
    let run = common::analyze_json(&[&cut("azfw_close_after_ch.pcap", 96)], &[]);
    let c = &run.connections[0];
    assert_eq!(c["outcome"], "closed_after_client_hello", "{c}");
    // The offer was cut: a block cannot be told from a mismatch.
    assert_eq!(c["cause"], "unknown");
    assert_eq!(c["confidence"], "low");
    let cands: Vec<&str> = c["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        cands.contains(&"firewall_block") && cands.contains(&"cipher_mismatch"),
        "{cands:?}"
    );
    let notes = c["notes"].to_string();
    assert!(
        notes.contains("missing from the capture") && notes.contains("snaplen"),
        "{notes}"
    );
    assert!(c["tcp"]["to_server"]["missed_bytes"]
        .as_u64()
        .is_some_and(|n| n > 300));
}

#[test]
fn alerts_survive_a_small_snaplen() {
    let run = common::analyze_json(&[&cut("cipher_mismatch.pcap", 96)], &[]);
    let c = &run.connections[0];
    assert_eq!(c["outcome"], "server_alert", "{c}");
    assert_eq!(c["alert"], "handshake_failure");
    assert_eq!(c["cause"], "cipher_mismatch");
}

#[test]
fn a_generous_snaplen_changes_nothing() {
    for name in [
        "injected_rst.pcap",
        "tls12_ok.pcap",
        "cert_rejected_tls12.pcap",
    ] {
        let full = common::analyze_json(&[&common::root().join("captures").join(name)], &[]);
        let cut = common::analyze_json(&[&cut(name, 65535)], &[]);
        assert_eq!(
            full.connections[0]["outcome"], cut.connections[0]["outcome"],
            "{name}"
        );
        assert_eq!(
            full.connections[0]["cause"], cut.connections[0]["cause"],
            "{name}"
        );
    }
}

#[test]
fn a_client_hello_over_the_handshake_limit_is_judged_with_an_unreadable_offer() {
    let f = common::root().join("captures/azfw_close_after_ch.pcap");
    let run = common::analyze_json(&[&f], &["--max-handshake-message", "100"]);
    let c = &run.connections[0];
    assert_eq!(c["outcome"], "closed_after_client_hello", "{c}");
    assert_eq!(c["cause"], "unknown");
    assert!(
        c["notes"].to_string().contains("--max-handshake-message"),
        "{c}"
    );
}

/// Every shipped pcap and pcapng, cut at snaplens from inside the TCP header (40, 54 bytes) and
/// headers-only (66 bytes: Ethernet, IPv4 and a TCP header with timestamps) up: a cut capture may say less than the whole one (`undetermined`, cause
/// `unknown`), never something else. A handshake that completed is never judged failed, a failure
/// is never judged ok or as another failure, and a cause is the whole capture's or `unknown`.
/// Known limits, asserted as they are: an ICMPv6 error cut before the ports of the packet it
/// quotes cannot be matched to its connection (the SYN looks unanswered), and a CONNECT request
/// cut before its end leaves the proxy's refusal unattributed.
#[test]
fn a_cut_capture_says_less_never_something_else() {
    let known_limits = [
        ("syn_unreachable_v6.pcap", 80, "syn_unanswered"),
        ("syn_unreachable_v6.pcap", 96, "syn_unanswered"),
        ("proxy_403.pcap", 160, "cleartext"),
    ];
    let (mut checked, mut checked_pcapng) = (0, 0);
    let mut dir: Vec<_> = std::fs::read_dir(common::root().join("captures"))
        .expect("captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    dir.sort();
    for full_path in dir {
        let name = full_path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let bytes = std::fs::read(&full_path).expect("capture");
        let pcap = bytes.len() >= 24 && bytes[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
        let pcapng = bytes.len() >= 28 && bytes[8..12] == [0x4d, 0x3c, 0x2b, 0x1a];
        if !pcap && !pcapng {
            continue;
        }
        let full = common::analyze_json(&[&full_path], &[]);
        for snaplen in [40, 54, 66, 72, 80, 96, 128, 160, 200, 256, 400, 600, 1000] {
            let cut = common::analyze_json(&[&cut(&name, snaplen)], &[]);
            for c in &cut.connections {
                let Some(f) = full
                    .connections
                    .iter()
                    .find(|f| f["client"] == c["client"] && f["server"] == c["server"])
                else {
                    continue;
                };
                checked += 1;
                checked_pcapng += usize::from(pcapng);
                let at = format!(
                    "{name} at snaplen {snaplen}: {} -> {}",
                    f["outcome"], c["outcome"]
                );
                if let Some((_, _, outcome)) = known_limits
                    .iter()
                    .find(|(n, s, _)| *n == name && *s == snaplen)
                {
                    assert_eq!(
                        c["outcome"], *outcome,
                        "{at}: known limit changed, update the test"
                    );
                    continue;
                }
                let (fc, cc) = (f["class"].as_str(), c["class"].as_str());
                assert!(cc == fc || cc == Some("undetermined"), "{at}");
                if cc != Some("undetermined") {
                    assert_eq!(c["outcome"], f["outcome"], "{at}");
                }
                assert!(
                    c["cause"] == "unknown" || c["cause"] == f["cause"],
                    "{at}: cause {}",
                    c["cause"]
                );
            }
        }
    }
    assert!(checked > 500, "only {checked} connections compared");
    assert!(
        checked_pcapng > 30,
        "only {checked_pcapng} pcapng connections compared"
    );
}

#[test]
fn headers_only_says_what_tcp_shows_and_nothing_more() {
    // Nothing of the ClientHello was kept: whether it was TLS cannot be told, but who ended the
    // connection, when, and from how far away (TTL) still can.
    let run = common::analyze_json(&[&cut("azfw_reset_after_ch.pcap", 66)], &[]);
    let c = &run.connections[0];
    assert_eq!(c["outcome"], "midstream", "{c}");
    assert_eq!(c["class"], "undetermined");
    assert_eq!(c["cause"], "unknown");
    assert_eq!(c["ended_by"], "server");
    let cands = c["candidates"].to_string();
    assert!(
        cands.contains("firewall_block") && cands.contains("cipher_mismatch"),
        "{cands}"
    );
    let text = c["explanation"].as_str().unwrap_or_default();
    assert!(
        text.contains("517 bytes") && text.contains("snaplen"),
        "{text}"
    );
    assert!(!text.contains("nothing failed"), "{text}");
    // An injected reset is told by its TTL from the headers alone.
    let run = common::analyze_json(&[&cut("injected_rst.pcap", 66)], &[]);
    let c = &run.connections[0];
    assert_eq!(c["outcome"], "midstream", "{c}");
    assert_eq!(c["ended_by"], "middlebox", "{c}");
    // A completed handshake cut to headers is not called cleartext, nor failed.
    let run = common::analyze_json(&[&cut("tls12_ok.pcap", 66)], &[]);
    assert_eq!(run.connections[0]["outcome"], "midstream");
}

#[test]
fn a_server_answer_cut_by_the_snaplen_is_not_silence() {
    // The ServerHello's record header survives at 96 bytes, its body does not.
    let run = common::analyze_json(&[&cut("tls13_ok.pcap", 96)], &[]);
    let c = &run.connections[0];
    assert_eq!(c["class"], "undetermined", "{c}");
    let why = c["reasons"].to_string();
    assert!(why.contains("the server answered with"), "{why}");
    assert!(why.contains("record header says handshake"), "{why}");
}

#[test]
fn records_are_found_again_after_a_cut_flight() {
    // At 400 bytes the server's certificate flight is cut, but its ChangeCipherSpec and Finished
    // (TLS 1.2), or its later records (TLS 1.3), start later segments: the handshake completed.
    for name in [
        "tls12_ok.pcap",
        "tls13_ok.pcap",
        "tls12_ok_gnutls_python.pcap",
    ] {
        let run = common::analyze_json(&[&cut(name, 400)], &[]);
        assert_eq!(
            run.connections[0]["outcome"], "handshake_complete",
            "{name}"
        );
    }
}
