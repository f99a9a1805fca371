//! Snaplen-cut captures are used as far as they go, and what was cut is said, never guessed over.

mod common;

fn cut(name: &str, snaplen: usize) -> std::path::PathBuf {
    let bytes = std::fs::read(common::root().join("captures").join(name)).expect("capture");
    let dir = std::env::temp_dir().join(format!("tlsautopsy-snaplen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let p = dir.join(format!("{snaplen}-{name}"));
    std::fs::write(&p, common::snaplen_cut(&bytes, snaplen)).expect("write");
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
