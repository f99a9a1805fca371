//! Writes seed corpora for the decode, tcp_reassembly and tls_stream targets, made from captures:
//! `cargo run --example fuzz_seeds -- OUT_DIR CAPTURE_OR_DIR...` (see fuzz/README.md). The capture_reader
//! and analyze targets read the captures directly as extra corpus directories.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            let mut v: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
            v.sort();
            for e in v {
                collect(&e, out);
            }
        }
    } else if matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "cap")
    ) {
        out.push(p.to_path_buf());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, inputs)) = args.split_first() else {
        eprintln!("usage: seeds OUT_DIR CAPTURE_OR_DIR...");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    for i in inputs {
        collect(Path::new(i), &mut files);
    }
    let mut counts = [0usize; 3];
    for f in &files {
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        let s = tlsautopsy::fuzzing::seeds(&bytes);
        let stem = f.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        for (i, (target, list)) in [
            ("decode", &s.decode),
            ("tcp_reassembly", &s.tcp),
            ("tls_stream", &s.tls),
        ]
        .into_iter()
        .enumerate()
        {
            let dir = Path::new(out).join(target);
            std::fs::create_dir_all(&dir).expect("create corpus dir");
            for (n, seed) in list.iter().enumerate().take(200) {
                std::fs::write(dir.join(format!("{stem}-{n}")), seed).expect("write seed");
                counts[i] += 1;
            }
        }
    }
    println!(
        "{} captures: {} decode, {} tcp_reassembly, {} tls_stream seeds in {out}",
        files.len(),
        counts[0],
        counts[1],
        counts[2]
    );
}
