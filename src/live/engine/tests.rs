//! Tests of the live engine on the shipped captures (replayed as if they came from the wire, with
//! the clock ticking between packets) and on synthetic floods.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::*;
use crate::capture::CaptureReader;
use crate::report::json::JsonLinesReport;

fn captures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

struct Owned {
    iface: usize,
    ts: Timestamp,
    origlen: u32,
    data: Vec<u8>,
}

fn load(path: &Path) -> (Vec<Interface>, Vec<Owned>) {
    let mut r = CaptureReader::open(path).unwrap();
    let mut pkts = Vec::new();
    while let Ok(Some(f)) = r.next_frame() {
        pkts.push(Owned {
            iface: f.interface as usize,
            ts: f.ts,
            origlen: f.origlen,
            data: f.data.to_vec(),
        });
    }
    let ifaces = r
        .interfaces()
        .iter()
        .enumerate()
        .map(|(i, x)| Interface {
            name: format!("if{i}"),
            link: x.link,
            snaplen: 262_144,
        })
        .collect();
    (ifaces, pkts)
}

fn lines(buf: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(buf)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Replay packets through a live engine: before each packet the clock ticks (every 100 ms of
/// capture time, as the live loop does), then `extra_ns` more after the last one, then stop.
fn replay(
    opts: EngineOptions,
    ifaces: Vec<Interface>,
    pkts: &[Owned],
    extra_ns: u64,
) -> (Vec<Value>, LiveCounters) {
    let mut out = Vec::new();
    let mut stats = Vec::new();
    let counters;
    {
        let mut sink = JsonLinesReport::new(&mut out);
        let mut e = Engine::new(opts, ifaces, &mut sink, Box::new(&mut stats)).unwrap();
        let mut clock = pkts.first().map_or(Timestamp(0), |p| p.ts);
        e.start(clock);
        for p in pkts {
            let step = (p.ts.since(clock) / 1000).max(100_000_000);
            while clock.0 + step <= p.ts.0 {
                clock = Timestamp(clock.0 + step);
                e.tick(clock);
            }
            e.packet(p.iface, p.ts, p.origlen, &p.data);
        }
        let end = Timestamp(clock.0 + extra_ns);
        while clock < end {
            clock = Timestamp(clock.0 + 100_000_000);
            e.tick(clock);
        }
        counters = e.counters();
        e.finish(clock, StopReason::Interrupt, &[]).unwrap();
    }
    let mut v = lines(&out);
    let cap = lines(&stats);
    assert_eq!(cap.len(), 1);
    assert_eq!(cap[0]["type"], "capture");
    assert_eq!(v.last().unwrap()["type"], "summary");
    v.retain(|l| l["type"] == "connection");
    (v, counters)
}

fn live_opts() -> EngineOptions {
    let mut o = EngineOptions {
        all: true,
        json: true,
        ..EngineOptions::default()
    };
    o.analyzer.close_grace_ns = 500_000_000;
    o
}

fn key_of(c: &Value) -> (String, String, String) {
    (
        c["server"].as_str().unwrap().to_string(),
        c["outcome"].as_str().unwrap().to_string(),
        c["cause"].as_str().unwrap().to_string(),
    )
}

/// The verdict engine is the same for files and for the wire: every shipped capture, replayed
/// through the live engine with its clock (verdicts at the close and after the quiet time), gets
/// the verdicts `analyze` gives it.
#[test]
fn live_replay_of_every_capture_matches_analyze() {
    let files = captures();
    assert!(files.len() > 20);
    for path in files {
        let mut out = Vec::new();
        {
            let mut sink = JsonLinesReport::new(&mut out);
            crate::run::run(&[path.display().to_string()], Options::default(), &mut sink).unwrap();
        }
        let mut want: Vec<_> = lines(&out)
            .iter()
            .filter(|l| l["type"] == "connection")
            .map(key_of)
            .collect();
        let (ifaces, pkts) = load(&path);
        // Stop right after the last packet, as `analyze` does at the end of the file.
        let (got, _) = replay(live_opts(), ifaces, &pkts, 0);
        let mut got: Vec<_> = got.iter().map(key_of).collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{}", path.display());
    }
}

fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("captures")
        .join(name)
}

/// A verdict for silence comes after the quiet time, from the clock alone, and the SYN
/// retransmissions that follow it are not taken for new connections.
#[test]
fn silence_is_judged_by_the_clock_and_stragglers_are_not_new_connections() {
    let (ifaces, pkts) = load(&capture("syn_unanswered.pcap"));
    let syns = pkts.len();
    assert!(syns >= 3, "{syns}");
    let mut o = live_opts();
    // The SYNs are 1 s apart: a verdict 0.8 s after the first, then three stragglers.
    o.analyzer.verdict.quiet_ns = 800_000_000;
    let (got, counters) = replay(o, ifaces, &pkts, 10_000_000_000);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["outcome"], "syn_unanswered");
    assert_eq!(got[0]["tcp"]["syn_count"], 1);
    assert_eq!(counters.late_packets, syns as u64 - 1, "{counters:?}");
}

fn mktemp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tlsautopsy-live-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn read_all(path: &Path) -> Vec<(u64, Timestamp, Vec<u8>)> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut v = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        v.push((f.number, f.ts, f.data.to_vec()));
    }
    v
}

/// `--write` rotates, and the frames the verdicts cite are in the files they name; `--evidence`
/// holds the packets of the failed connection only.
#[test]
fn write_rotates_and_evidence_has_only_failed_connections() {
    let dir = mktemp("write");
    // A healthy connection, then a failed one (both captures are Ethernet).
    let (ifaces, mut pkts) = load(&capture("tls13_ok.pcap"));
    pkts.extend(load(&capture("cipher_mismatch.pcap")).1);
    let mut o = live_opts();
    o.write = Some(dir.join("cap.pcapng"));
    o.rotate_bytes = Some(3000);
    o.evidence = Some(dir.join("evidence.pcapng"));
    let (got, _) = replay(o, ifaces, &pkts, 5_000_000_000);
    let mut written = Vec::new();
    for n in 0.. {
        let p = rotated_path(&dir.join("cap.pcapng"), n);
        if !p.exists() {
            break;
        }
        assert!(std::fs::metadata(&p).unwrap().len() < 3000 + 70_000);
        written.push((p.display().to_string(), read_all(&p)));
    }
    assert!(written.len() >= 2, "{}", written.len());
    let total: usize = written.iter().map(|w| w.1.len()).sum();
    assert_eq!(total, pkts.len());
    // Every evidence frame a verdict cites is in the named file, at that number, with that time.
    for c in &got {
        for e in c["evidence"].as_array().unwrap() {
            let file = e["file"].as_str().unwrap();
            let frame = e["frame"].as_u64().unwrap();
            let (_, frames) = written.iter().find(|w| w.0 == file).unwrap();
            let (n, ts, _) = &frames[frame as usize - 1];
            assert_eq!(*n, frame);
            assert_eq!(time::rfc3339(*ts), e["time"].as_str().unwrap());
        }
    }
    let failed: Vec<&Value> = got.iter().filter(|c| c["class"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{got:#?}");
    let ev = read_all(&dir.join("evidence.pcapng"));
    assert_eq!(
        ev.len() as u64,
        failed[0]["tcp"]["packets"].as_u64().unwrap()
    );
    // Redacted by the evidence pipeline, with the section comment and a comment on the decisive
    // packet (naming the frame as the verdict cites it); the temporary file is gone.
    let mut r = CaptureReader::open(&dir.join("evidence.pcapng")).unwrap();
    while r.next_frame().unwrap().is_some() {}
    let section = &r.section_comments()[0];
    assert!(
        section.contains("Redaction: TLS handshake records"),
        "{section}"
    );
    assert!(section.contains("1 failed connection(s)"), "{section}");
    assert!(!evidence_partial_path(&dir.join("evidence.pcapng")).exists());
    let decisive = failed[0]["decisive_frame"].as_u64().unwrap();
    let raw =
        String::from_utf8_lossy(&std::fs::read(dir.join("evidence.pcapng")).unwrap()).into_owned();
    assert!(raw.contains("DECISIVE packet: "), "{raw:?}");
    assert!(
        raw.contains(&format!(".pcapng frame {decisive}]")),
        "{raw:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn syn(src_port: u16, seq: u32) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(src_port, 443, seq, 64240)
        .syn();
    let mut v = Vec::with_capacity(b.size(0));
    b.write(&mut v, &[]).unwrap();
    v
}

/// A SYN flood: memory is bounded by the connection cap; the oldest idle connections are judged
/// early and counted, and those still in progress are not printed one by one.
#[test]
fn syn_flood_is_bounded_and_counted() {
    let ifaces = vec![Interface {
        name: "raw".into(),
        link: LinkType::RAW,
        snaplen: 262_144,
    }];
    let t0 = 1_700_000_000_000_000_000u64;
    let pkts: Vec<Owned> = (0..20_000u32)
        .map(|i| Owned {
            iface: 0,
            ts: Timestamp(t0 + u64::from(i) * 10_000),
            origlen: 40,
            data: syn(1024 + (i % 60_000) as u16, i.wrapping_mul(7919)),
        })
        .collect();
    let mut o = live_opts();
    o.all = false;
    o.analyzer.max_connections = 500;
    o.analyzer.verdict.quiet_ns = 60_000_000_000;
    let mut out = Vec::new();
    let mut stats = Vec::new();
    {
        let mut sink = JsonLinesReport::new(&mut out);
        let mut e = Engine::new(o, ifaces, &mut sink, Box::new(&mut stats)).unwrap();
        e.start(Timestamp(t0));
        for (i, p) in pkts.iter().enumerate() {
            e.packet(p.iface, p.ts, p.origlen, &p.data);
            if i % 1000 == 0 {
                e.tick(p.ts);
            }
        }
        let c = e.counters();
        assert!(c.evicted_not_printed > 15_000, "{c:?}");
        assert_eq!(c.printed, 0);
        e.finish(Timestamp(t0 + 1_000_000_000), StopReason::Count, &[])
            .unwrap();
    }
    let cap = &lines(&stats)[0];
    let all = lines(&out);
    let summary = all.last().unwrap();
    assert_eq!(summary["connections"], 20_000);
    assert!(summary["max_live_connections"].as_u64().unwrap() <= 500);
    let evicted = cap["evicted_connections"].as_u64().unwrap();
    assert!(evicted > 19_000, "{cap}");
    assert_eq!(cap["evicted_not_printed"].as_u64().unwrap(), evicted);
    // At the stop, the connections still tracked are flushed as in progress.
    let printed = all.iter().filter(|l| l["type"] == "connection").count() as u64;
    assert_eq!(printed, 20_000 - evicted);
    assert!(all
        .iter()
        .filter(|l| l["type"] == "connection")
        .all(|l| l["outcome"] == "in_progress"));
}

/// Drops reported by libpcap are attached to the verdicts of the connections that were live then.
#[test]
fn capture_drops_are_noted_on_verdicts() {
    let (ifaces, pkts) = load(&capture("cipher_mismatch.pcap"));
    let mut out = Vec::new();
    let mut stats = Vec::new();
    {
        let mut sink = JsonLinesReport::new(&mut out);
        let mut e = Engine::new(live_opts(), ifaces, &mut sink, Box::new(&mut stats)).unwrap();
        e.start(pkts[0].ts);
        for p in &pkts {
            e.packet(p.iface, p.ts, p.origlen, &p.data);
        }
        let s = IfaceStats {
            received: 100,
            dropped_kernel: 7,
            dropped_interface: 0,
        };
        assert_eq!(e.capture_stats(0, pkts[1].ts, s), 7);
        assert_eq!(e.capture_stats(0, pkts[2].ts, s), 0);
        e.finish(pkts[pkts.len() - 1].ts, StopReason::Duration, &[Some(s)])
            .unwrap();
    }
    let all = lines(&out);
    let conn = all.iter().find(|l| l["type"] == "connection").unwrap();
    assert!(
        conn["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("dropped 7 packet")),
        "{conn}"
    );
    let cap = &lines(&stats)[0];
    assert_eq!(cap["interfaces"][0]["dropped_kernel"], 7);
    assert_eq!(cap["stopped_by"], "duration");
    let summary = all.last().unwrap();
    assert!(summary["inputs"][0]["warnings"][0]
        .as_str()
        .unwrap()
        .contains("kernel dropped 7"));
}

/// The text format: verdicts as `analyze` prints them, then the capture statistics and the summary.
#[test]
fn text_output_has_verdicts_statistics_and_summary() {
    let (ifaces, pkts) = load(&capture("cipher_mismatch.pcap"));
    let mut out = Vec::new();
    let mut stats = Vec::new();
    {
        let mut sink = crate::report::text::TextReport::new(&mut out, false, true);
        let mut o = live_opts();
        o.json = false;
        let mut e = Engine::new(o, ifaces, &mut sink, Box::new(&mut stats)).unwrap();
        for p in &pkts {
            e.packet(p.iface, p.ts, p.origlen, &p.data);
        }
        e.tick(Timestamp(pkts[pkts.len() - 1].ts.0 + 1_000_000_000));
        assert_eq!(e.counters().printed, 1);
        let s = IfaceStats {
            received: 20,
            dropped_kernel: 0,
            dropped_interface: 0,
        };
        e.finish(pkts[pkts.len() - 1].ts, StopReason::Interrupt, &[Some(s)])
            .unwrap();
    }
    let out = String::from_utf8(out).unwrap();
    let stats = String::from_utf8(stats).unwrap();
    assert!(out.contains("SERVER_ALERT"), "{out}");
    assert!(out.contains("Ladder:"), "{out}");
    assert!(out.contains("== Summary =="), "{out}");
    assert!(out.contains("if0: live"), "{out}");
    assert!(stats.contains("== Capture =="), "{stats}");
    assert!(
        stats.contains(
            "20 received by the filter, 0 dropped by the kernel, 0 dropped by the interface"
        ),
        "{stats}"
    );
    assert!(stats.contains("stopped by interrupt"), "{stats}");
}
