//! `--threads N`: the output (JSON lines, text with `--all`, standard error, exit status) is the same,
//! byte for byte and in the same order, as with one thread, on every shipped capture, on every peer
//! capture, on all shipped captures at once and on a generated capture long enough for many sweeps.
//! A limit hit under threads is counted and said; the progress bar shows only when asked.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// One run: (exit status, stdout, stderr).
fn run(args: &[&str], files: &[PathBuf]) -> (i32, Vec<u8>, String) {
    run_reading(args, files, None)
}

/// One run, with helper threads (reading ahead; with one analysing thread, printing apart) where a
/// CPU is left for them (`None`), always (`Some(true)`: `TLSAUTOPSY_HELPERS=1`) or never
/// (`Some(false)`: `=0`, strictly one thread).
fn run_reading(args: &[&str], files: &[PathBuf], ahead: Option<bool>) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"));
    cmd.env_remove("TLSAUTOPSY_HELPERS");
    if let Some(a) = ahead {
        cmd.env("TLSAUTOPSY_HELPERS", if a { "1" } else { "0" });
    }
    let out = cmd
        .args(args)
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("run tlsautopsy");
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `analyze --json`, `analyze --all` and `analyze --summary-only` with --threads 1, 2 and 3 on
/// `files`: same stdout, stderr and exit status. (With `--json` and with `--summary-only` the
/// threads free a judged connection's details before the merger prints it.) Strictly one thread
/// is the reference; one thread and three threads are run with their helpers whatever the CPUs
/// (one thread: reading ahead, analysing on another thread than the one printing; three: the
/// buffers read ahead held by the threads' batches), two threads as the machine decides. Returns a
/// description of each difference.
fn compare(files: &[PathBuf]) -> Vec<String> {
    let mut diffs = Vec::new();
    let shown = || {
        files
            .iter()
            .map(|f| {
                f.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().to_string())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for mode in ["--json", "--all", "--summary-only"] {
        let one = run_reading(&["analyze", mode, "--threads", "1"], files, Some(false));
        assert!(
            matches!(one.0, 0..=2),
            "{}: exit {} {}",
            shown(),
            one.0,
            one.2
        );
        for (t, ahead) in [("1", Some(true)), ("2", None), ("3", Some(true))] {
            let many = run_reading(&["analyze", mode, "--threads", t], files, ahead);
            if many.0 != one.0 {
                diffs.push(format!(
                    "{} {mode} --threads {t}: exit {} instead of {}",
                    shown(),
                    many.0,
                    one.0
                ));
            }
            if many.1 != one.1 {
                let a = String::from_utf8_lossy(&one.1);
                let b = String::from_utf8_lossy(&many.1);
                let line = a
                    .lines()
                    .zip(b.lines())
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.lines().count().min(b.lines().count()));
                diffs.push(format!(
                    "{} {mode} --threads {t}: stdout differs from one thread's at line {}:\n  1: {}\n  {t}: {}",
                    shown(),
                    line + 1,
                    a.lines().nth(line).unwrap_or("<end>").chars().take(300).collect::<String>(),
                    b.lines().nth(line).unwrap_or("<end>").chars().take(300).collect::<String>()
                ));
            }
            if many.2 != one.2 {
                diffs.push(format!(
                    "{} {mode} --threads {t}: stderr differs:\n{}\nvs\n{}",
                    shown(),
                    one.2,
                    many.2
                ));
            }
        }
    }
    diffs
}

/// The captures named in captures/expected.tsv.
fn expected_captures() -> Vec<PathBuf> {
    let tsv = std::fs::read_to_string(common::root().join("captures/expected.tsv"))
        .expect("captures/expected.tsv");
    let mut names: Vec<&str> = tsv
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|n| common::root().join("captures").join(n))
        .collect()
}

#[test]
fn every_shipped_capture_gives_the_same_output_with_threads() {
    let files = expected_captures();
    assert!(files.len() > 40, "{} captures", files.len());
    let mut diffs = Vec::new();
    for f in &files {
        assert!(f.is_file(), "{} listed but missing", f.display());
        diffs.extend(compare(std::slice::from_ref(f)));
    }
    // All at once: several inputs, one flow table, ids across files.
    diffs.extend(compare(&common::shipped_captures()));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn every_peer_capture_gives_the_same_output_with_threads() {
    let Some(peers) = common::peers() else {
        eprintln!("skipped: ../shared/corpus/peers not present");
        return;
    };
    let files = common::capture_files_in(&peers);
    assert!(files.len() > 80, "found {} peer captures", files.len());
    let mut diffs = Vec::new();
    for f in &files {
        diffs.extend(compare(std::slice::from_ref(f)));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A generated capture spanning about half a minute of capture time (a new connection every 20 ms):
/// connections are judged by many sweeps along the way, not only at the end.
fn generated() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tlsautopsy-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let out = dir.join("gen.pcap");
    if !out.exists() {
        common::gencap(
            &out,
            &[
                "--size-mb",
                "4",
                "--spacing-us",
                "20000",
                "--bulk-every",
                "10",
                "--bulk-kb",
                "64",
            ],
        );
    }
    out
}

#[test]
fn generated_capture_gives_the_same_output_with_threads_and_limits_hit_are_counted() {
    let gen = generated();
    let one = common::analyze_json(&[&gen], &[]);
    let s = one.summary.as_ref().expect("summary");
    // Many sweeps judged connections along the way: far fewer were live at once than in all.
    let (conns, live) = (
        s["connections"].as_u64().expect("connections"),
        s["max_live_connections"].as_u64().expect("max live"),
    );
    assert!(
        conns > 300 && live * 2 < conns,
        "{conns} connections, {live} live at most"
    );
    assert!(s["max_buffered_bytes"].as_u64().is_some_and(|b| b > 0));
    let diffs = compare(std::slice::from_ref(&gen));
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // --max-connections 10 with 3 threads (3 per thread): hits are counted, said on stderr and in
    // the verdicts' notes; the run succeeds with the usual exit status and every id once.
    let hit = common::analyze_json(&[&gen], &["--threads", "3", "--max-connections", "10"]);
    assert_eq!(hit.status, one.status, "{}", hit.stderr);
    let hs = hit.summary.as_ref().expect("summary");
    let hits = hs["limits"]["max_connections"]["hits"]
        .as_u64()
        .expect("hits");
    assert!(hits > 0, "{hs}");
    assert_eq!(hs["limits"]["max_connections"]["limit"], 10);
    assert_eq!(hs["evicted_connections"].as_u64(), Some(hits));
    assert!(
        hs["max_live_connections"].as_u64().is_some_and(|n| n <= 10),
        "{hs}"
    );
    assert!(
        hit.stderr
            .contains("--max-connections and --max-buffer-total apply per thread"),
        "{}",
        hit.stderr
    );
    let mut ids: Vec<u64> = hit
        .connections
        .iter()
        .map(|c| c["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids.len() as u64, hs["connections"].as_u64().expect("n"));
    ids.sort_unstable();
    assert!(ids.iter().enumerate().all(|(i, id)| *id == i as u64 + 1));
    let noted = hit
        .connections
        .iter()
        .filter(|c| {
            c["notes"].as_array().is_some_and(|n| {
                n.iter()
                    .any(|x| x.as_str().is_some_and(|x| x.contains("--max-connections")))
            })
        })
        .count() as u64;
    assert_eq!(noted, hits);
}

#[test]
fn threads_zero_means_one_per_core_and_stdin_is_read_once() {
    let f = common::root().join("captures/azfw_close_after_ch.pcap");
    let one = run(&["analyze", "--json"], std::slice::from_ref(&f));
    let zero = run(
        &["analyze", "--json", "--threads", "0"],
        std::slice::from_ref(&f),
    );
    assert_eq!((zero.0, &zero.1), (one.0, &one.1));

    // Standard input (read once, by the reading thread), alone and between two files: the same
    // stdout, stderr and exit status as one thread.
    let stdin = |threads: &str, files: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
            .args(["analyze", "--json", "--threads", threads])
            .args(files)
            .stdin(std::fs::File::open(&f).expect("open"))
            .output()
            .expect("run");
        (out.status.code(), out.stdout, out.stderr)
    };
    let a = common::root().join("captures/tls13_ok.pcap");
    let b = common::root().join("captures/cert_rejected_tls13.pcapng");
    let (a, b) = (a.to_str().expect("utf-8"), b.to_str().expect("utf-8"));
    for files in [&["-"][..], &[a, "-", b][..]] {
        let one = stdin("1", files);
        assert!(one.1.len() > 100, "{files:?}");
        for t in ["1", "2", "3"] {
            assert!(stdin(t, files) == one, "{files:?} --threads {t}");
        }
    }
}

/// Inputs that end or fail part way: a pcap cut in the middle of a record (a warning; the frames
/// before it analysed), one with a damaged record length (reading stops there), a missing file, a
/// file that is not a capture, and a pcapng with two interfaces of different link types, one after
/// the other in one run: the same output, warnings and exit status with threads.
#[test]
fn truncated_damaged_and_missing_inputs_give_the_same_output_with_threads() {
    let good =
        std::fs::read(common::root().join("captures/azfw_close_after_ch.pcap")).expect("capture");
    let cut = common::temp_file("threads", "cut.pcap", &good[..good.len() - good.len() / 3]);
    // The length field of the third record made impossible.
    let mut damaged = good.clone();
    let mut off = 24;
    for _ in 0..2 {
        let caplen = u32::from_le_bytes(damaged[off + 8..off + 12].try_into().expect("4"));
        off += 16 + caplen as usize;
    }
    damaged[off + 8..off + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let damaged = common::temp_file("threads", "damaged.pcap", &damaged);
    let text = common::temp_file("threads", "notes.txt", b"not a capture at all\n");
    let missing = std::env::temp_dir().join("tlsautopsy-threads-no-such-file.pcap");
    let two_links = common::root().join("captures/tls13_ok.two_links.pcapng");
    let files = [
        cut.clone(),
        damaged.clone(),
        missing.clone(),
        text,
        two_links.clone(),
        cut,
    ];
    let mut diffs = compare(&files);
    for f in [&damaged, &two_links, &missing] {
        diffs.extend(compare(std::slice::from_ref(f)));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn report_and_bundle_are_the_same_with_threads() {
    let dir = std::env::temp_dir().join(format!("tlsautopsy-threads-out-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let files = common::shipped_captures();
    let mut outs = Vec::new();
    for t in ["1", "2"] {
        let report = dir.join(format!("r{t}.html"));
        let evidence = dir.join(format!("e{t}.pcapng"));
        let (status, stdout, _) = run(
            &[
                "analyze",
                "--threads",
                t,
                "--report",
                report.to_str().expect("utf-8"),
                "--evidence",
                evidence.to_str().expect("utf-8"),
            ],
            &files,
        );
        let bundle = dir.join(format!("b{t}"));
        let (bstatus, _, berr) = run(
            &[
                "bundle",
                "--threads",
                t,
                "-o",
                bundle.to_str().expect("utf-8"),
            ],
            &files,
        );
        assert_eq!(bstatus, 0, "{berr}");
        outs.push((
            status,
            stdout,
            std::fs::read(&report).expect("report"),
            std::fs::metadata(&evidence).expect("evidence").len() > 0,
            std::fs::read(bundle.join("verdicts.jsonl")).expect("verdicts"),
            std::fs::read(bundle.join("report.html")).expect("bundle report"),
        ));
    }
    assert!(
        outs[0] == outs[1],
        "outputs differ between --threads 1 and 2"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn progress_bar_only_when_asked_or_on_a_terminal() {
    let f = common::root().join("captures/tls13_ok.pcap");
    // Not a terminal, small input: no progress output at all.
    for extra in [&[][..], &["--threads", "2"][..], &["--no-progress"][..]] {
        let mut args = vec!["analyze", "--json"];
        args.extend_from_slice(extra);
        let (status, _, err) = run(&args, std::slice::from_ref(&f));
        assert_eq!(status, 0);
        assert!(err.is_empty(), "{extra:?}: unexpected stderr {err:?}");
    }
    // --progress forces it, as plain lines: bytes read of the total, rate, ETA; stdout unchanged.
    let size = std::fs::metadata(&f).expect("size").len();
    let plain = run(&["analyze", "--json"], std::slice::from_ref(&f));
    for extra in [&[][..], &["--threads", "2"][..]] {
        let mut args = vec!["analyze", "--json", "--progress"];
        args.extend_from_slice(extra);
        let (status, out, err) = run(&args, std::slice::from_ref(&f));
        assert_eq!(status, 0);
        assert_eq!(out, plain.1, "--progress changed stdout");
        let total = format!("/{:.2} KiB", size as f64 / 1024.0);
        let last = err
            .lines()
            .rev()
            .find(|l| l.starts_with("tlsautopsy: reading "))
            .unwrap_or_else(|| panic!("{extra:?}: no progress line in {err:?}"));
        assert!(
            last.contains(&format!("{total} ")) && last.contains("/s") && last.contains("ETA"),
            "{last}"
        );
        assert!(
            !err.contains('\x1b'),
            "escape codes when not a terminal: {err:?}"
        );
    }
    // --progress and --no-progress together: a usage error.
    let (status, _, _) = run(
        &["analyze", "--progress", "--no-progress"],
        std::slice::from_ref(&f),
    );
    assert_eq!(status, 2);
}
