//! Every input a fuzz target ever failed on (fuzz/README.md lists them, with the fix) is kept in
//! `tests/fuzz_regressions/TARGET/` and replayed here through the same harness
//! (`tlsautopsy::fuzzing`), in the regular test suite. Inputs for `capture_reader` and `analyze` are
//! also run through the real binary, which must exit 0, 1 or 2 without panicking.

mod common;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = common::root().join("tests/fuzz_regressions").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let files = inputs(target);
    for f in &files {
        let data = std::fs::read(f).expect("read regression input");
        if std::panic::catch_unwind(|| harness(&data)).is_err() {
            panic!("{target}: {} fails again", f.display());
        }
    }
    files.len()
}

#[test]
fn capture_reader_findings() {
    replay("capture_reader", tlsautopsy::fuzzing::capture_reader);
}

#[test]
fn decode_findings() {
    replay("decode", tlsautopsy::fuzzing::decode);
}

#[test]
fn tcp_reassembly_findings() {
    replay("tcp_reassembly", tlsautopsy::fuzzing::tcp);
}

#[test]
fn tls_stream_findings() {
    replay("tls_stream", tlsautopsy::fuzzing::tls);
}

#[test]
fn analyze_findings() {
    replay("analyze", tlsautopsy::fuzzing::analyze);
}

#[test]
fn whole_file_findings_through_the_binary() {
    for f in inputs("analyze")
        .iter()
        .chain(inputs("capture_reader").iter())
    {
        for args in [&["analyze", "--json"][..], &["analyze", "--all"][..]] {
            let mut a: Vec<&str> = args.to_vec();
            a.push(f.to_str().expect("utf8"));
            let r = common::run_bounded(&a, 1024 * 1024, std::time::Duration::from_secs(30));
            assert!(
                matches!(r.status, Some(0..=2)) && !r.stderr.contains("panicked"),
                "{}: {:?} {}",
                f.display(),
                r.status,
                r.stderr
            );
        }
    }
}
