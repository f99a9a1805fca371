//! The evidence pcapng, checked with tshark: it holds exactly the packets of the selected
//! connections, comments on the decisive ones, no application-data byte of the input after
//! redaction (while the ClientHello's SNI and the alerts still decode), and no original address
//! when anonymized. Also the bundle folder and the anonymization of every output.
//!
//! tshark is installed by .ci/run: in CI a missing tshark fails these tests; elsewhere they are
//! skipped with a message.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn have_tshark() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "tshark is not installed: .ci/run installs it (apt-get install tshark); these tests need it"
    );
    eprintln!("skipped: tshark is not installed (apt-get install tshark)");
    false
}

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("evidence-tests");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn captures() -> Vec<PathBuf> {
    common::shipped_captures()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Parse the "[input FILE frame N]" a packet comment ends with.
fn input_frame(comment: &str) -> Option<u64> {
    let i = comment.rfind("[input ")?;
    let rest = &comment[i..];
    let j = rest.rfind(" frame ")?;
    rest[j + 7..].trim_end_matches(']').trim().parse().ok()
}

fn decode_hex(h: &str) -> Vec<u8> {
    let h: String = h.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// The captured bytes of every packet of a capture, one after the other (comments left out).
fn packet_bytes(file: &Path) -> Vec<u8> {
    let mut r = tlsautopsy::capture::CaptureReader::open(file).unwrap();
    let mut out = Vec::new();
    while let Some(f) = r.next_frame().unwrap() {
        out.extend_from_slice(f.data);
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// `ip:port` or `[v6]:port` into (address, port).
fn split_endpoint(e: &str) -> (String, String) {
    let (a, p) = e.rsplit_once(':').unwrap();
    (
        a.trim_start_matches('[').trim_end_matches(']').to_string(),
        p.to_string(),
    )
}

fn cells(row: &[String], i: usize) -> Vec<String> {
    row.get(i)
        .map(|c| {
            c.split(',')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Everything checked on one capture; returns the failures and the number of application-data
/// blobs looked for.
fn check_capture(f: &Path) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let name = f.file_name().unwrap().to_string_lossy().to_string();
    // The input, read once: addresses and ports (of ICMP quotes too), and what must or must not
    // survive redaction.
    let input = common::tshark_fields(
        f,
        "",
        &[
            "frame.number",
            "ip.src",
            "ip.dst",
            "ipv6.src",
            "ipv6.dst",
            "tcp.srcport",
            "tcp.dstport",
            "tls.app_data",
            "data.data",
            "http.file_data",
            "tls.handshake.extensions_server_name",
            "tls.alert_message.desc",
            "http.response.code",
            "tls.handshake.certificate",
        ],
        &[],
    );
    let failed_out = tmp(&format!("{name}.failed.pcapng"));
    let all_out = tmp(&format!("{name}.all.pcapng"));
    for all in [false, true] {
        let out = if all { &all_out } else { &failed_out };
        let mut extra = vec!["--evidence", s(out)];
        if all {
            extra.push("--evidence-all");
        }
        let run = common::analyze_json(&[f], &extra);
        assert!(run.status <= 1, "{name}: {}", run.stderr);
        let selected: Vec<&Value> = run
            .connections
            .iter()
            // without --evidence-all: the failed connections, and the completed ones the path reset
            .filter(|c| all || c["class"] == "failed" || !c["after_handshake"]["finding"].is_null())
            .collect();
        // Expected: the input frames that the selected connections' Wireshark filters match
        // (`ip.addr == A && tcp.port == p && ip.addr == B && tcp.port == q`, ICMP quotes included).
        let expected = input
            .iter()
            .filter(|row| {
                let addrs: BTreeSet<String> = (1..=4).flat_map(|i| cells(row, i)).collect();
                let ports: BTreeSet<String> = (5..=6).flat_map(|i| cells(row, i)).collect();
                selected.iter().any(|c| {
                    let (a, p) = split_endpoint(c["client"].as_str().unwrap());
                    let (b, q) = split_endpoint(c["server"].as_str().unwrap());
                    addrs.contains(&a)
                        && addrs.contains(&b)
                        && ports.contains(&p)
                        && ports.contains(&q)
                })
            })
            .count();
        let rows = common::tshark_fields(
            out,
            "",
            &[
                "frame.number",
                "frame.comment",
                "tls.handshake.extensions_server_name",
                "tls.alert_message.desc",
                "http.response.code",
                "tcp.checksum.status",
                "ip.checksum.status",
            ],
            &[
                "-o",
                "tcp.check_checksum:TRUE",
                "-o",
                "ip.check_checksum:TRUE",
            ],
        );
        if rows.len() != expected {
            failures.push(format!(
                "{name} (all={all}): tshark reads {} packets in the evidence, the selected connections have {expected} in the input",
                rows.len()
            ));
        }
        // `frame.comment` marks the decisive packets of the selected connections.
        let want: BTreeSet<u64> = selected
            .iter()
            .filter_map(|c| c["decisive_frame"].as_u64())
            .collect();
        let commented = common::tshark_fields(out, "frame.comment", &["frame.comment"], &[]);
        let got: BTreeSet<u64> = commented
            .iter()
            .flat_map(|row| {
                row[0]
                    .split("tlsautopsy #")
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|c| c.contains("DECISIVE"))
            .filter_map(|c| input_frame(c.trim_end_matches(',')))
            .collect();
        if want != got {
            failures.push(format!(
                "{name} (all={all}): decisive frames {want:?}, `-Y frame.comment` shows {got:?} as decisive"
            ));
        }
        if !all {
            continue;
        }
        // What proves the verdicts still decodes: SNI, alerts, HTTP status codes.
        for (col_in, col_out, what) in [(10, 2, "SNI"), (11, 3, "alerts"), (12, 4, "HTTP status")] {
            let a: Vec<String> = input.iter().flat_map(|r| cells(r, col_in)).collect();
            let b: Vec<String> = rows.iter().flat_map(|r| cells(r, col_out)).collect();
            if a != b {
                failures.push(format!(
                    "{name}: {what} {a:?} in the input, {b:?} in the evidence"
                ));
            }
        }
        // No checksum goes bad by the rewriting (1: good, 2: not verifiable as the packet was cut).
        for r in &rows {
            if cells(r, 5)
                .iter()
                .chain(cells(r, 6).iter())
                .any(|v| v == "0")
            {
                failures.push(format!("{name}: bad checksum in evidence frame {}", r[0]));
            }
        }
    }
    // Redaction: no application data of the input survives in the evidence's packets: TLS
    // application-data record bodies, HTTP bodies, payload that is neither (tshark's raw data).
    let evidence = packet_bytes(&all_out);
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    for row in &input {
        for i in [7, 8] {
            blobs.extend(cells(row, i).iter().map(|v| decode_hex(v)));
        }
        if let Some(body) = row.get(9).filter(|b| !b.is_empty()) {
            blobs.push(body.as_bytes().to_vec());
        }
    }
    // What the evidence keeps on purpose: the certificates (a deny page may quote the CRL URL the
    // certificate names, as revocation_blocked.pcap's does).
    let kept: Vec<Vec<u8>> = input
        .iter()
        .flat_map(|row| cells(row, 13))
        .map(|v| decode_hex(&v))
        .collect();
    let mut checked = 0;
    for b in blobs.iter().filter(|b| b.len() >= 20) {
        checked += 1;
        if let Some(w) = b
            .windows(20)
            .step_by(4)
            .find(|w| contains(&evidence, w) && !kept.iter().any(|k| contains(k, w)))
        {
            failures.push(format!(
                "{name}: application data {w:02x?} survived redaction"
            ));
        }
    }
    (failures, checked)
}

#[test]
fn evidence_of_every_capture_is_exact_commented_and_redacted() {
    if !have_tshark() {
        return;
    }
    let files = captures();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(f) = files.get(i) else { break };
                let r = check_capture(f);
                results.lock().unwrap().push(r);
            });
        }
    });
    let results = results.into_inner().unwrap();
    let failures: Vec<String> = results.iter().flat_map(|r| r.0.clone()).collect();
    let blobs: usize = results.iter().map(|r| r.1).sum();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        results.len() >= 40,
        "only {} captures checked",
        results.len()
    );
    assert!(blobs >= 20, "only {blobs} application-data blobs checked");
}

#[test]
fn no_redact_keeps_the_packets_as_captured() {
    if !have_tshark() {
        return;
    }
    let f = common::root().join("captures/tls13_ok.pcap");
    let out = tmp("tls13_ok.noredact.pcapng");
    let run = common::analyze_json(
        &[&f],
        &["--evidence", s(&out), "--evidence-all", "--no-redact"],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let a = common::tshark_fields(
        &f,
        "",
        &["frame.cap_len", "tcp.payload", "frame.time_epoch"],
        &[],
    );
    let b = common::tshark_fields(
        &out,
        "",
        &["frame.cap_len", "tcp.payload", "frame.time_epoch"],
        &[],
    );
    assert_eq!(a, b);
}

fn original_addresses(files: &[PathBuf]) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for f in files {
        for row in common::tshark_fields(
            f,
            "ip || ipv6",
            &["ip.src", "ip.dst", "ipv6.src", "ipv6.dst"],
            &[],
        ) {
            for cell in row {
                for a in cell.split(',').filter(|a| !a.is_empty()) {
                    set.insert(a.to_string());
                }
            }
        }
    }
    set
}

/// Whether `text` names `addr` as a whole address (not as part of a longer one).
fn mentions(text: &str, addr: &str) -> bool {
    let v6 = addr.contains(':');
    let b = text.as_bytes();
    text.match_indices(addr).any(|(i, _)| {
        let before = i.checked_sub(1).map(|j| b[j]);
        let after = b.get(i + addr.len()).copied();
        let after2 = b.get(i + addr.len() + 1).copied();
        let longer_before =
            before.is_some_and(|c| c.is_ascii_hexdigit() || c == b'.' || (v6 && c == b':'));
        let longer_after = after.is_some_and(|c| c.is_ascii_hexdigit())
            || (after == Some(b'.') && after2.is_some_and(|c| c.is_ascii_digit()))
            || (v6
                && after == Some(b':')
                && after2.is_some_and(|c| c.is_ascii_hexdigit() || c == b':'));
        !longer_before && !longer_after
    })
}

#[test]
fn anonymized_bundle_holds_no_original_address_and_the_key_fixes_the_map() {
    if !have_tshark() {
        return;
    }
    let names = [
        "syn_unreachable_v4.pcap",
        "syn_unreachable_v6.pcap",
        "injected_rst.pcap",
        "injected_rst_v6.pcap",
        "proxy_403.pcap",
        "tls13_ok.pcap",
        "http_470.pcap",
        "cert_rejected_tls12.pcap",
    ];
    let files: Vec<PathBuf> = names
        .iter()
        .map(|n| common::root().join("captures").join(n))
        .collect();
    let originals = original_addresses(&files);
    assert!(originals.len() >= 6, "{originals:?}");
    let bundle = |dir: &Path, key: &str| {
        let mut args = vec![
            "bundle",
            "-o",
            s(dir),
            "--anonymize-key",
            key,
            "--evidence-all",
        ];
        for f in &files {
            args.push(s(f));
        }
        let (status, stdout, stderr) = common::tlsautopsy(&args);
        assert_eq!(status, 0, "{stdout}{stderr}");
        for o in &originals {
            assert!(!mentions(&stdout, o), "{o} in the bundle command's output");
        }
    };
    let d1 = tmp("bundle-anon-1");
    let d2 = tmp("bundle-anon-2");
    let d3 = tmp("bundle-anon-other-key");
    bundle(&d1, "case 4711");
    bundle(&d2, "case 4711");
    bundle(&d3, "another key");
    for name in [
        "report.html",
        "verdicts.jsonl",
        "evidence.pcapng",
        "README.txt",
        "SHA256SUMS",
        "inputs.sha256",
    ] {
        let path = d1.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        for o in &originals {
            assert!(!mentions(&text, o), "{o} appears in {name}");
            let ip: std::net::IpAddr = o.parse().unwrap();
            let raw = match ip {
                std::net::IpAddr::V4(a) => a.octets().to_vec(),
                std::net::IpAddr::V6(a) => a.octets().to_vec(),
            };
            assert!(
                !contains(&bytes, &raw),
                "{o} appears in binary form in {name}"
            );
        }
    }
    // MAC addresses are replaced as well (broadcast stays).
    let macs = |f: &Path| -> BTreeSet<String> {
        common::tshark_fields(f, "eth", &["eth.src", "eth.dst"], &[])
            .into_iter()
            .flatten()
            .filter(|m| !m.is_empty() && m != "ff:ff:ff:ff:ff:ff")
            .collect()
    };
    let orig_macs: BTreeSet<String> = files.iter().flat_map(|f| macs(f)).collect();
    let new_macs = macs(&d1.join("evidence.pcapng"));
    assert!(!orig_macs.is_empty() && !new_macs.is_empty());
    assert!(
        orig_macs.is_disjoint(&new_macs),
        "{orig_macs:?} {new_macs:?}"
    );
    let in_pcap = original_addresses(&[d1.join("evidence.pcapng")]);
    assert!(in_pcap.is_disjoint(&originals), "{in_pcap:?}");
    assert_eq!(in_pcap.len(), originals.len(), "the map is one to one");
    // Same key, same map: the report and the JSON are identical, and so are the pcapng's addresses.
    for name in ["report.html", "verdicts.jsonl"] {
        assert_eq!(
            std::fs::read(d1.join(name)).unwrap(),
            std::fs::read(d2.join(name)).unwrap(),
            "{name}"
        );
    }
    let fields = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst"];
    let p1 = common::tshark_fields(&d1.join("evidence.pcapng"), "", &fields, &[]);
    assert_eq!(
        p1,
        common::tshark_fields(&d2.join("evidence.pcapng"), "", &fields, &[])
    );
    assert_ne!(
        p1,
        common::tshark_fields(&d3.join("evidence.pcapng"), "", &fields, &[])
    );
    // ICMP and ICMPv6 checksums (with the quoted headers rewritten) still verify.
    let sums = common::tshark_fields(
        &d1.join("evidence.pcapng"),
        "icmp || icmpv6",
        &[
            "icmp.checksum.status",
            "icmpv6.checksum.status",
            "ip.checksum.status",
        ],
        &["-o", "ip.check_checksum:TRUE"],
    );
    assert!(!sums.is_empty());
    for row in sums {
        assert!(
            row.iter()
                .all(|c| c.split(',').all(|v| v.is_empty() || v == "1")),
            "{row:?}"
        );
    }
    // The bundle's sums check out.
    let sums = std::fs::read_to_string(d1.join("SHA256SUMS")).unwrap();
    let out = Command::new("sha256sum")
        .arg("-c")
        .arg("SHA256SUMS")
        .current_dir(&d1)
        .output();
    if let Ok(out) = out {
        assert!(
            out.status.success(),
            "{sums}\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    assert_eq!(sums.lines().count(), 5, "{sums}");
}

#[test]
fn anonymize_applies_to_text_and_json_output() {
    if !have_tshark() {
        return;
    }
    let files = [
        common::root().join("captures/syn_unreachable_v6.pcap"),
        common::root().join("captures/injected_rst.pcap"),
    ];
    let originals = original_addresses(&files);
    let (_, text, _) = common::tlsautopsy(&[
        "analyze",
        "--all",
        "--anonymize",
        s(&files[0]),
        s(&files[1]),
    ]);
    let json = common::analyze_json(&[&files[0], &files[1]], &["--anonymize-key", "k"]);
    let json2 = common::analyze_json(&[&files[0], &files[1]], &["--anonymize-key", "k"]);
    assert_eq!(json.stdout, json2.stdout);
    assert!(text.contains("RESET_AFTER_CLIENT_HELLO"), "{text}");
    for o in &originals {
        assert!(!mentions(&text, o), "{o} in the text output");
        assert!(!mentions(&json.stdout, o), "{o} in the JSON output");
    }
    // The map keeps the structure: the JSON still parses and names the same outcomes.
    let outcomes: BTreeMap<u64, String> = json
        .connections
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap(),
                c["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(outcomes.len(), 2);
}

#[test]
fn standard_input_cannot_give_evidence() {
    let f = common::root().join("captures/injected_rst.pcap");
    let out = tmp("stdin.pcapng");
    let o = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(["analyze", "--evidence", s(&out), "-"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("standard input"), "{err}");
    let (status, _, err) = common::tlsautopsy(&["bundle", "-o", s(&tmp("stdin-bundle")), "-"]);
    assert_eq!(status, 2);
    assert!(err.contains("standard input"), "{err}");
    // The report alone reads standard input fine.
    let report = tmp("stdin.html");
    let o = Command::new(env!("CARGO_BIN_EXE_tlsautopsy"))
        .args(["analyze", "--report", s(&report), "-"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("reset_after_client_hello"));
}
