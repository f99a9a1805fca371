//! Several inputs are one capture, read in time order (src/capture/merge.rs). The files of a ring
//! buffer that wrapped, given in shell order, and captures that overlap in time are judged as the
//! one capture they come from and as mergecap's merge of them, and not as reading them one after
//! the other as given (what tlsautopsy did before, and what `mergecap -a` writes): there, connections
//! are cut in two and the clock runs backwards.
//!
//! The captures: the benchmark generator's replay of the shipped scenario captures; the ring is
//! tcpdump's own (`-C`/`-W`), the overlapping pair tshark's split of one capture by connection.
//! .ci/run installs tcpdump and tshark (with mergecap): in CI a missing tool fails these tests.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use tlsautopsy::capture::CaptureReader;

fn workdir(tag: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("merge-{tag}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The first packet's timestamp (seconds, microseconds) of a little-endian pcap (tcpdump's, here).
fn first_timestamp(p: &Path) -> (u32, u32) {
    let b = std::fs::read(p).expect("read ring file");
    let word = |at: usize| {
        b.get(at..at + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, u32::from_le_bytes)
    };
    assert_eq!(
        word(0),
        0xa1b2_c3d4,
        "{}: not a little-endian pcap",
        p.display()
    );
    (word(24), word(28))
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A connection line without what depends on how the frames were split into files: file names,
/// frame numbers (in fields and in sentences), and, unless `ids`, the id.
fn normalized(r: &common::Run, ids: bool) -> Vec<String> {
    fn strip(v: &Value) -> Value {
        match v {
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "file" | "frame" | "decisive_frame" | "fin" | "rst" | "filter"
                        )
                    })
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
            Value::String(s) => Value::String(mask_frame_numbers(s)),
            v => v.clone(),
        }
    }
    let mut out: Vec<String> = r
        .connections
        .iter()
        .map(|c| {
            let mut c = strip(c);
            if !ids {
                c.as_object_mut().map(|m| m.remove("id"));
            }
            c.to_string()
        })
        .collect();
    if !ids {
        out.sort();
    }
    out
}

/// "frame 12", "frames 3, 4 and 7", "frame 12 of input 3" become "frame N".
fn mask_frame_numbers(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("frame") {
        out.push_str(&rest[..i]);
        let after = &rest[i + "frame".len()..];
        let after = after.strip_prefix('s').unwrap_or(after);
        let mut tail = after;
        let mut numbers = 0;
        loop {
            let t = tail.trim_start_matches([' ', ',']);
            let t = t.strip_prefix("and ").unwrap_or(t);
            let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 {
                break;
            }
            tail = &t[digits..];
            numbers += 1;
        }
        if numbers > 0 {
            out.push_str("frame N");
            // (A frame of another input than the first: "frame 12 of input 3".)
            let of = tail.strip_prefix(" of input ").map(|t| {
                let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                &t[digits..]
            });
            rest = of.unwrap_or(tail);
        } else {
            out.push_str("frame");
            rest = &rest[i + "frame".len()..];
        }
    }
    out.push_str(rest);
    out
}

/// Every frame of a capture file: (timestamp, bytes), in order.
fn frames(p: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = CaptureReader::open(p).expect("open evidence");
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().expect("read evidence") {
        out.push((f.ts.0, f.data.to_vec()));
    }
    out
}

#[test]
fn a_ring_buffer_that_wrapped_is_read_in_time_order() {
    if let Some(why) = common::cannot_run(&["tcpdump", "mergecap"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = workdir("ring");
    let whole = dir.join("whole.pcap");
    // tcpdump's ring buffer: files of 1 MB, 4 of them, over 5-8 MB of packets: it wraps, and unless
    // the last file written is ring.pcap3, shell order is not time order. The capture's size is
    // chosen so (the generator's mix grows with the shipped captures), read from the files' first
    // timestamps, not from the analyzer.
    let mut ring: Vec<PathBuf> = Vec::new();
    for size in ["5", "6", "7"] {
        common::gencap(
            &whole,
            &["--size-mb", size, "--bulk-kb", "256", "--bulk-every", "10"],
        );
        for k in 0..4 {
            let _ = std::fs::remove_file(dir.join(format!("ring.pcap{k}")));
        }
        let mut td = Command::new("tcpdump");
        td.arg("-r")
            .arg(&whole)
            .arg("-w")
            .arg(dir.join("ring.pcap"));
        td.args(["-C", "1", "-W", "4"]);
        if common::is_root() {
            // (As root tcpdump would write as its own user, into a directory it cannot write.)
            td.args(["-Z", "root"]);
        }
        run(&mut td);
        ring = (0..4).map(|k| dir.join(format!("ring.pcap{k}"))).collect();
        let starts: Vec<(u32, u32)> = ring.iter().map(|p| first_timestamp(p)).collect();
        if starts.windows(2).any(|w| w[1] < w[0]) {
            break;
        }
    }
    let ring_refs: Vec<&Path> = ring.iter().map(PathBuf::as_path).collect();
    let merged = dir.join("merged.pcap");
    let concat = dir.join("concat.pcap");
    run(Command::new("mergecap").arg("-w").arg(&merged).args(&ring));
    run(Command::new("mergecap")
        .arg("-a")
        .arg("-w")
        .arg(&concat)
        .args(&ring));

    let r = common::analyze_json(&ring_refs, &[]);
    let m = common::analyze_json(&[&merged], &[]);
    let c = common::analyze_json(&[&concat], &[]);
    let (rs, ms) = (
        r.summary.clone().expect("summary"),
        m.summary.clone().expect("summary"),
    );
    assert_eq!(rs["input_order"], "reordered", "{rs}");
    assert_eq!(ms["input_order"], "as_given");
    assert!(r.connections.len() > 50, "{rs}");
    assert_eq!(rs["outcomes"], ms["outcomes"]);
    assert_eq!(rs["frames"], ms["frames"]);
    // The same verdicts, ids and evidence as mergecap's merge.
    assert_eq!(normalized(&r, true), normalized(&m, true));
    // Sentences name the input of a frame past the first.
    assert!(
        (2..=4).any(|k| r.stdout.contains(&format!(" of input {k})")))
            && !m.stdout.contains(" of input "),
        "no sentence names an input"
    );
    // Read one after the other as given, connections are cut in two.
    assert!(
        c.connections.len() > r.connections.len(),
        "{} {}",
        c.connections.len(),
        r.connections.len()
    );
    // The text summary says it.
    let (_, text, _) = common::tlsautopsy(&[
        "analyze",
        "--summary-only",
        ring[0].to_str().expect("utf-8"),
        ring[1].to_str().expect("utf-8"),
        ring[2].to_str().expect("utf-8"),
        ring[3].to_str().expect("utf-8"),
    ]);
    assert!(text.contains("they were read in time order"), "{text}");

    // Threads print exactly what one thread prints.
    let t = common::analyze_json(&ring_refs, &["--threads", "2"]);
    assert_eq!(t.stdout, r.stdout);

    // Standard input among the files (read once, kept open while the others are peeked at).
    let piped = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(["analyze", "--json"])
        .arg(&ring[1])
        .arg("-")
        .args(&ring[2..])
        .stdin(Stdio::from(
            std::fs::File::open(&ring[0]).expect("open ring file"),
        ))
        .output()
        .expect("run");
    let piped_run = common::Run {
        status: piped.status.code().unwrap_or(-1),
        connections: String::from_utf8_lossy(&piped.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).expect("json"))
            .filter(|v| v["type"] == "connection")
            .collect(),
        summary: None,
        stderr: String::new(),
        stdout: String::new(),
    };
    assert_eq!(normalized(&piped_run, true), normalized(&r, true));

    // The evidence holds the same packets, in the same order, as the merged file's.
    let ev_ring = dir.join("ring-evidence.pcapng");
    let ev_merged = dir.join("merged-evidence.pcapng");
    let mut args = vec![
        "analyze".to_string(),
        "--summary-only".into(),
        "--evidence".into(),
        ev_ring.display().to_string(),
    ];
    args.extend(ring.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (st, _, err) = common::tlsautopsy(&args);
    assert_eq!(st, 1, "{err}");
    let (st, _, err) = common::tlsautopsy(&[
        "analyze",
        "--summary-only",
        "--evidence",
        ev_merged.to_str().expect("utf-8"),
        merged.to_str().expect("utf-8"),
    ]);
    assert_eq!(st, 1, "{err}");
    let (a, b) = (frames(&ev_ring), frames(&ev_merged));
    assert!(a.len() > 40, "{} evidence packets", a.len());
    assert!(a == b, "the evidence packets differ");
}

#[test]
fn captures_that_overlap_are_merged_by_timestamp() {
    if let Some(why) = common::cannot_run(&["tshark", "mergecap"], false) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = workdir("overlap");
    let whole = dir.join("whole.pcap");
    common::gencap(&whole, &["--size-mb", "2", "--bulk-every", "10"]);
    // Two captures of the same minutes, each with half of the connections (as on two interfaces).
    let (even, odd) = (dir.join("even.pcapng"), dir.join("odd.pcapng"));
    for (out, filter) in [
        (&even, "tcp.stream % 2 == 0"),
        (&odd, "tcp.stream % 2 == 1"),
    ] {
        run(Command::new("tshark")
            .arg("-r")
            .arg(&whole)
            .args(["-Y", filter, "-w"])
            .arg(out));
    }
    let w = common::analyze_json(&[&whole], &[]);
    let o = common::analyze_json(&[&odd, &even], &[]);
    let os = o.summary.clone().expect("summary");
    assert_eq!(os["input_order"], "interleaved", "{os}");
    assert!(w.connections.len() > 30);
    // The same verdicts as the one capture (ids may differ where two packets share a timestamp).
    assert_eq!(normalized(&o, false), normalized(&w, false));
    assert_eq!(
        os["outcomes"],
        w.summary.clone().expect("summary")["outcomes"]
    );
    // As mergecap's merge of the two.
    let merged = dir.join("merged.pcapng");
    run(Command::new("mergecap")
        .arg("-w")
        .arg(&merged)
        .arg(&odd)
        .arg(&even));
    let m = common::analyze_json(&[&merged], &[]);
    assert_eq!(normalized(&o, true), normalized(&m, true));
    let (_, text, _) = common::tlsautopsy(&[
        "analyze",
        "--summary-only",
        odd.to_str().expect("utf-8"),
        even.to_str().expect("utf-8"),
    ]);
    assert!(text.contains("overlap in time"), "{text}");
    let t = common::analyze_json(&[&odd, &even], &["--threads", "2"]);
    assert_eq!(t.stdout, o.stdout);
}
