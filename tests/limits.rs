//! Every limit, when hit, is counted in the JSON summary and the text summary, and said in the notes
//! of the connections it concerns. Each case is a small capture made here that hits one limit set low.

mod common;

use common::{handshake_claim, ipv4_header, ipv4_tcp, tcp_segment, Pcap, ACK, PSH, SYN};

type Ep = ([u8; 4], u16);

fn client(i: u8) -> Ep {
    ([10, 0, 0, i], 40_000 + u16::from(i))
}
const SERVER: Ep = ([192, 0, 2, 1], 443);

/// SYN, SYN-ACK, ACK; returns (client next seq, server next seq).
fn handshake(p: &mut Pcap, ts: &mut u64, c: Ep) -> (u32, u32) {
    let (cs, ss) = (1000u32, 5000u32);
    for (src, dst, seq, ack, fl) in [
        (c, SERVER, cs, 0, SYN),
        (SERVER, c, ss, cs + 1, SYN | ACK),
        (c, SERVER, cs + 1, ss + 1, ACK),
    ] {
        *ts += 100;
        p.frame(*ts, &ipv4_tcp(src, dst, seq, ack, fl, &[]));
    }
    (cs + 1, ss + 1)
}

struct Outcome {
    summary: serde_json::Value,
    connections: Vec<serde_json::Value>,
    text: String,
}

fn analyse(name: &str, bytes: &[u8], flags: &[&str]) -> Outcome {
    let path = common::temp_file("limits", name, bytes);
    let run = common::analyze_json(&[&path], flags);
    assert!(matches!(run.status, 0 | 1), "{name}: {}", run.stderr);
    let mut args = vec!["analyze"];
    args.extend_from_slice(flags);
    let p = path.to_str().expect("utf8").to_string();
    args.push(&p);
    let (_c, text, _e) = common::tlsautopsy(&args);
    Outcome {
        summary: run.summary.expect("summary"),
        connections: run.connections,
        text,
    }
}

fn hits(o: &Outcome, limit: &str) -> u64 {
    o.summary["limits"][limit]["hits"].as_u64().unwrap_or(0)
}

fn notes(o: &Outcome) -> String {
    o.connections
        .iter()
        .map(|c| c["notes"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_limit_is_hit_on_an_ordinary_capture() {
    let bytes = std::fs::read(common::root().join("captures/tls13_ok.pcap")).expect("read");
    let o = analyse("ok.pcap", &bytes, &[]);
    for (k, v) in o.summary["limits"].as_object().expect("limits") {
        assert_eq!(v["hits"], 0, "{k}");
        assert!(v["limit"].as_u64().is_some_and(|l| l > 0), "{k}");
    }
    assert!(!o.text.contains("limits hit"), "{}", o.text);
}

#[test]
fn connection_limit() {
    let mut p = Pcap::new(101);
    let mut ts = 0;
    for i in 1..=3 {
        handshake(&mut p, &mut ts, client(i));
    }
    let o = analyse("conns.pcap", &p.0, &["--max-connections", "2"]);
    assert!(hits(&o, "max_connections") >= 1, "{}", o.summary);
    assert_eq!(o.summary["limits"]["max_connections"]["limit"], 2);
    assert!(o.text.contains("--max-connections 2:"), "{}", o.text);
    assert!(notes(&o).contains("--max-connections"), "{}", notes(&o));
}

#[test]
fn buffer_per_direction_limit() {
    let mut p = Pcap::new(101);
    let mut ts = 0;
    let c = client(1);
    let (cs, ss) = handshake(&mut p, &mut ts, c);
    // Three 600-byte segments ahead of a hole: more than 1 KiB out of order.
    for k in 1..=3u32 {
        ts += 100;
        p.frame(
            ts,
            &ipv4_tcp(c, SERVER, cs + 100 + 600 * k, ss, PSH | ACK, &[0x17; 600]),
        );
    }
    let o = analyse("ooo.pcap", &p.0, &["--max-buffer-per-direction", "1K"]);
    assert!(hits(&o, "max_buffer_per_direction") >= 1, "{}", o.summary);
    assert!(
        o.text.contains("--max-buffer-per-direction 1024 bytes"),
        "{}",
        o.text
    );
    assert!(notes(&o).contains("out-of-order buffer"), "{}", notes(&o));
}

#[test]
fn buffer_total_limit() {
    let mut p = Pcap::new(101);
    let mut ts = 0;
    // 1,000 connections, each with 1,400 bytes out of order: 1.4 MB held, over a 1 MiB limit.
    for i in 0..1000u32 {
        let c = ([10, 1, (i >> 8) as u8, i as u8], 40_000);
        let (cs, ss) = handshake(&mut p, &mut ts, c);
        ts += 100;
        p.frame(
            ts,
            &ipv4_tcp(c, SERVER, cs + 100, ss, PSH | ACK, &[0x17; 1400]),
        );
    }
    let o = analyse("total.pcap", &p.0, &["--max-buffer-total", "1M"]);
    assert!(hits(&o, "max_buffer_total") >= 1, "{}", o.summary);
    assert!(
        o.summary["max_buffered_bytes"]
            .as_u64()
            .is_some_and(|b| b <= (1 << 20) + 1400),
        "{}",
        o.summary
    );
    assert!(
        o.text.contains("--max-buffer-total 1048576 bytes"),
        "{}",
        o.text
    );
    assert!(notes(&o).contains("--max-buffer-total"), "{}", notes(&o));
    // Below 1M is refused, in words.
    let (code, _o, err) = common::tlsautopsy(&["analyze", "--max-buffer-total", "4K", "x.pcap"]);
    assert_eq!(code, 2);
    assert!(err.contains("at least 1M"), "{err}");
}

#[test]
fn handshake_message_limit() {
    let mut p = Pcap::new(101);
    let mut ts = 0;
    let c = client(1);
    let (cs, ss) = handshake(&mut p, &mut ts, c);
    ts += 100;
    // A ClientHello claiming 16 MB.
    let rec = handshake_claim(1, 0xff_ffff, &[3; 100]);
    p.frame(ts, &ipv4_tcp(c, SERVER, cs, ss, PSH | ACK, &rec));
    let o = analyse("hs.pcap", &p.0, &[]);
    assert_eq!(hits(&o, "max_handshake_message"), 1, "{}", o.summary);
    assert!(
        o.text.contains("--max-handshake-message 65536 bytes"),
        "{}",
        o.text
    );
    assert!(
        notes(&o).contains("--max-handshake-message"),
        "{}",
        notes(&o)
    );
    // A lower limit applies to an ordinary ClientHello.
    let bytes = std::fs::read(common::root().join("captures/tls13_ok.pcap")).expect("read");
    let o = analyse("hs-low.pcap", &bytes, &["--max-handshake-message", "100"]);
    assert!(hits(&o, "max_handshake_message") >= 1, "{}", o.summary);
}

#[test]
fn events_limit() {
    // A real TLS 1.3 handshake has more than two records and messages.
    let bytes = std::fs::read(common::root().join("captures/tls13_ok.pcap")).expect("read");
    let o = analyse("events.pcap", &bytes, &["--max-events", "2", "--all"]);
    assert!(hits(&o, "max_events") >= 2, "{}", o.summary);
    assert!(o.text.contains("--max-events 2:"), "{}", o.text);
    assert!(notes(&o).contains("TLS events"), "{}", notes(&o));
}

#[test]
fn ip_fragment_limit() {
    let mut p = Pcap::new(101);
    let mut ts = 0;
    let c = client(1);
    // First fragments of three datagrams, none completed: with room for one, two are dropped.
    let seg = tcp_segment(c.1, SERVER.1, 1000, 0, SYN, &[0; 40]);
    for id in 1..=3u16 {
        let mut f = ipv4_header(c.0, SERVER.0, 6, 32, id, 0, true);
        f.extend_from_slice(&seg[..32]);
        ts += 100;
        p.frame(ts, &f);
    }
    // Something analysable, so that the run is not "nothing analysed".
    handshake(&mut p, &mut ts, client(2));
    let o = analyse("frags.pcap", &p.0, &["--max-ip-fragments", "1"]);
    assert!(hits(&o, "max_ip_fragments") >= 2, "{}", o.summary);
    assert!(o.text.contains("--max-ip-fragments 1"), "{}", o.text);
}
