//! Memory stays bounded on a hostile capture: 100,000 connections, each lying about a length —
//! a 16 MB ClientHello claim, a 65,000-byte claim followed by a few bytes, out-of-order data ahead
//! of a hole, an IP length claiming bytes the capture "cut" — and a last pcap record claiming 2 GB.
//! The limits fire, are counted in the summary, and the process's peak RSS stays small.

mod common;

use std::time::Duration;

use common::{handshake_claim, ipv4_tcp, Pcap, ACK, PSH, SYN};

const CONNECTIONS: u32 = 100_000;

fn hostile_capture() -> Vec<u8> {
    let mut pcap = Pcap::new(101);
    let server = ([192, 0, 2, 1], 443u16);
    let mut ts = 1_700_000_000_000_000u64;
    let filler = vec![0x42u8; 600];
    for i in 0..CONNECTIONS {
        let client = (
            [10, (i >> 16) as u8, (i >> 8) as u8, i as u8],
            40_000 + (i % 20_000) as u16,
        );
        let isn = 1000u32.wrapping_mul(i);
        let sisn = 7_000_000u32.wrapping_add(i);
        ts += 10;
        pcap.frame(ts, &ipv4_tcp(client, server, isn, 0, SYN, &[]));
        ts += 10;
        pcap.frame(ts, &ipv4_tcp(server, client, sisn, isn + 1, SYN | ACK, &[]));
        ts += 10;
        match i % 4 {
            0 => {
                // A ClientHello claiming 16 MB in a record claiming 16 KiB, with 40 bytes.
                let rec = handshake_claim(1, 0xff_ffff, &[0x03; 40]);
                let mut rec = rec;
                rec[3..5].copy_from_slice(&0x4000u16.to_be_bytes());
                pcap.frame(
                    ts,
                    &ipv4_tcp(client, server, isn + 1, sisn + 1, PSH | ACK, &rec),
                );
            }
            1 => {
                // A ClientHello claiming 65,000 bytes (within the limit), of which 60 arrive.
                let rec = handshake_claim(1, 65_000, &[0x03; 60]);
                pcap.frame(
                    ts,
                    &ipv4_tcp(client, server, isn + 1, sisn + 1, PSH | ACK, &rec),
                );
            }
            2 => {
                // Out-of-order bytes ahead of a 1000-byte hole.
                pcap.frame(
                    ts,
                    &ipv4_tcp(client, server, isn + 1001, sisn + 1, PSH | ACK, &filler),
                );
            }
            _ => {
                // An IP length claiming 65,000 bytes, "cut" by a snaplen that the record says took
                // 4 GB: only the IP length is believed, and nothing is allocated for the cut.
                let mut p = ipv4_tcp(client, server, isn + 1, sisn + 1, PSH | ACK, &[0x16, 3, 1]);
                p[2..4].copy_from_slice(&65_000u16.to_be_bytes());
                pcap.frame_cut(ts, &p, u32::MAX);
            }
        }
    }
    // A last record claiming 2 GB of packet bytes.
    let mut bytes = pcap.0;
    bytes.extend_from_slice(&[0; 8]);
    bytes.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(&0x7fff_ffffu32.to_le_bytes());
    bytes.extend_from_slice(&[0x45; 64]);
    bytes
}

#[test]
fn hostile_capture_with_100k_connections_stays_bounded() {
    let path = common::temp_file("memory", "hostile.pcap", &hostile_capture());
    let p = path.to_str().expect("utf8");
    // Small limits, so that each fires: at most 20,000 live connections and 2 MiB of buffers.
    let r = common::run_bounded(
        &[
            "analyze",
            "--json",
            "--summary-only",
            "--max-connections",
            "20000",
            "--max-buffer-total",
            "2M",
            p,
        ],
        2 * 1024 * 1024,
        Duration::from_secs(120),
    );
    assert!(!r.timed_out, "took longer than {:?}", r.elapsed);
    assert!(matches!(r.status, Some(0 | 1)), "stderr: {}", r.stderr);
    let s = common::json_summary(&r.stdout).expect("summary line");
    assert_eq!(s["connections"], u64::from(CONNECTIONS), "{s}");
    let hits = |k: &str| s["limits"][k]["hits"].as_u64().unwrap_or(0);
    assert!(hits("max_connections") > 0, "{s}");
    assert!(
        hits("max_handshake_message") >= u64::from(CONNECTIONS / 4),
        "{s}"
    );
    assert!(hits("max_buffer_total") > 0, "{s}");
    assert!(
        s["max_buffered_bytes"].as_u64().unwrap_or(u64::MAX) <= 2 * 1024 * 1024 + 64 * 1024,
        "{s}"
    );
    // The 2 GB record is refused without being read, and said.
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    let rss = r.peak_rss_kib.expect("peak RSS reported");
    eprintln!(
        "limited run: {:?}, peak RSS {rss} KiB, {}",
        r.elapsed, s["limits"]
    );
    // About 5 KiB per live connection: 20,000 of them and the buffers stay far below this.
    assert!(rss < 160 * 1024, "peak RSS {rss} KiB");

    // Default limits: all 100,000 connections live at once, still bounded.
    let r = common::run_bounded(
        &["analyze", "--json", "--summary-only", p],
        2 * 1024 * 1024,
        Duration::from_secs(120),
    );
    assert!(!r.timed_out, "took longer than {:?}", r.elapsed);
    assert!(matches!(r.status, Some(0 | 1)), "stderr: {}", r.stderr);
    let s = common::json_summary(&r.stdout).expect("summary line");
    assert_eq!(s["max_live_connections"], u64::from(CONNECTIONS), "{s}");
    let rss = r.peak_rss_kib.expect("peak RSS reported");
    eprintln!("default run: {:?}, peak RSS {rss} KiB", r.elapsed);
    assert!(rss < 640 * 1024, "peak RSS {rss} KiB");
    let _ = std::fs::remove_file(&path);
}
