//! TLS inside tunnels: the analyzer opens them and judges the inner connection, and the evidence
//! file keeps the inner packets (redacted and anonymized as plain ones).
//!
//! - `vxlan_made_by_the_kernel`: two network namespaces joined by a veth pair and a Linux VXLAN
//!   device, openssl s_server and s_client inside the tunnel (a handshake that completes, one the
//!   server refuses), tcpdump on the underlay. Needs root and a kernel with VXLAN (CI runs as
//!   root; otherwise it prints why it is skipped and passes).
//! - `geneve_peer_capture`: Zeek's `geneve-47101.pcap` (TLS 1.2 to www.kernel.org inside Geneve),
//!   read in place; its evidence checked with tshark.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{cannot_run, Netns, Procs};
use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tunnel-tests");
    std::fs::create_dir_all(&d).unwrap();
    let p = d.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

/// `tshark -r FILE -Y FILTER -T fields -e FIELD...`, one row per packet.
fn tshark(file: &Path, filter: &str, fields: &[&str]) -> Vec<String> {
    let mut c = Command::new("tshark");
    c.arg("-r").arg(file).args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        c.args(["-e", f]);
    }
    let out = c.output().expect("run tshark");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `ip ARGS` inside `ns`: true when it worked.
fn ip(ns: &Netns, args: &str) -> bool {
    ns.cmd("ip")
        .args(args.split_whitespace())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn connections(file: &Path) -> Vec<Value> {
    let run = common::analyze_json(&[file], &[]);
    run.connections
}

#[test]
fn vxlan_made_by_the_kernel() {
    if let Some(why) = cannot_run(&["openssl", "tcpdump", "tshark", "ip"], true) {
        eprintln!("skipped: {why}");
        return;
    }
    let a = Netns::new("vx-a").expect("a network namespace (as root)");
    let b = Netns::new("vx-b").expect("a network namespace (as root)");
    let link = Command::new("ip")
        .args([
            "link", "add", "va", "netns", &a.0, "type", "veth", "peer", "name", "vb", "netns", &b.0,
        ])
        .status()
        .unwrap();
    assert!(link.success(), "veth pair");
    for (ns, dev, me, peer) in [
        (&a, "va", "10.99.0.1", "10.99.0.2"),
        (&b, "vb", "10.99.0.2", "10.99.0.1"),
    ] {
        assert!(ip(ns, &format!("addr add {me}/24 dev {dev}")));
        assert!(ip(ns, &format!("link set {dev} up")));
        if !ip(
            ns,
            &format!(
                "link add vx0 type vxlan id 42 remote {peer} local {me} dstport 4789 dev {dev}"
            ),
        ) {
            eprintln!("skipped: this kernel cannot make VXLAN devices");
            return;
        }
        let inner = if ns.0 == a.0 {
            "192.168.77.1"
        } else {
            "192.168.77.2"
        };
        assert!(ip(ns, &format!("addr add {inner}/24 dev vx0")));
        assert!(ip(ns, "link set vx0 up"));
    }

    let dir = tmp("vxlan");
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = common::self_signed(&dir, "vx.test");
    let mut procs = Procs::default();
    let server = |port: &str, extra: &[&str]| {
        let mut c = b.cmd("openssl");
        c.args(["s_server", "-quiet", "-accept", port])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(extra);
        c
    };
    procs.spawn(server("4433", &[]));
    procs.spawn(server("4434", &["-no_tls1_3", "-cipher", "AES128-SHA256"]));
    b.wait_listening(&[4433, 4434]);

    let cap = dir.join("underlay.pcap");
    let _ = std::fs::remove_file(&cap);
    let mut dump = a.cmd("tcpdump");
    dump.args(["-i", "va", "-U", "-n", "--immediate-mode", "-w"])
        .arg(&cap)
        .arg("udp port 4789");
    let dump_pid = procs.spawn(dump);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cap.exists() {
        assert!(Instant::now() < deadline, "tcpdump did not start");
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(300));

    // A handshake that completes, then one the server refuses (no common cipher suite).
    for (port, extra) in [
        ("4433", vec!["-servername", "vx.test"]),
        (
            "4434",
            vec!["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"],
        ),
    ] {
        // s_client's own verdict does not matter: the capture is judged.
        let _ = a
            .cmd("timeout")
            .args(["10", "openssl", "s_client", "-connect"])
            .arg(format!("192.168.77.2:{port}"))
            .args(extra)
            .stdin(Stdio::null())
            .output();
    }
    thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill")
        .args(["-INT", &dump_pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{dump_pid}/status")).exists()
        && std::fs::read_to_string(format!("/proc/{dump_pid}/status"))
            .is_ok_and(|s| !s.contains("State:\tZ"))
    {
        assert!(Instant::now() < deadline, "tcpdump did not stop");
        thread::sleep(Duration::from_millis(50));
    }
    drop(procs);

    // On the wire, everything was inside VXLAN.
    assert!(!tshark(&cap, "vxlan", &["frame.number"]).is_empty());
    assert_eq!(
        tshark(&cap, "not vxlan", &["frame.number"]),
        Vec::<String>::new()
    );

    let run = common::analyze_json(&[&cap], &[]);
    let summary = run.summary.expect("a summary line");
    assert!(summary["tcp_packets"].as_u64().unwrap() > 10, "{summary}");
    assert_eq!(summary["tunneled"], summary["tcp_packets"], "{summary}");
    let conns = run.connections;
    assert_eq!(conns.len(), 2, "{conns:#?}");
    let by_port = |p: &str| {
        conns
            .iter()
            .find(|c| c["server"] == format!("192.168.77.2:{p}"))
            .unwrap_or_else(|| panic!("no inner connection to port {p}: {conns:#?}"))
    };
    let ok = by_port("4433");
    assert_eq!(ok["outcome"], "handshake_complete", "{ok}");
    assert_eq!(ok["sni"], "vx.test");
    assert!(ok["client"].as_str().unwrap().starts_with("192.168.77.1:"));
    assert_eq!(ok["tunnel"]["kind"], "vxlan", "{ok}");
    assert_eq!(ok["tunnel"]["id"], 42);
    assert_eq!(ok["tunnel"]["outer_src"], "10.99.0.1");
    assert_eq!(ok["tunnel"]["outer_dst"], "10.99.0.2");
    let refused = by_port("4434");
    assert_eq!(refused["outcome"], "server_alert", "{refused}");
    assert_eq!(refused["cause"], "cipher_mismatch");

    // The evidence keeps the inner packets: no VXLAN, the same verdicts when read again.
    let ev = dir.join("evidence.pcapng");
    let run = common::analyze_json(
        &[&cap],
        &["--evidence", ev.to_str().unwrap(), "--evidence-all"],
    );
    assert_eq!(run.connections.len(), 2);
    assert!(tshark(&ev, "vxlan or udp", &["frame.number"]).is_empty());
    assert!(!tshark(&ev, "tls.handshake.type == 1", &["frame.number"]).is_empty());
    let again = connections(&ev);
    for c in &conns {
        let e = again
            .iter()
            .find(|x| x["server"] == c["server"])
            .expect("the connection in the evidence");
        assert_eq!((&e["outcome"], &e["cause"]), (&c["outcome"], &c["cause"]));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn geneve_peer_capture() {
    let Some(peers) = common::peers() else {
        eprintln!("skipped: ../shared/corpus/peers not present");
        return;
    };
    let file = peers.join("zeek/traces/geneve-47101.pcap");
    // Zeek's conn.log for this trace: 145.40.68.75:443, SF, service ssl, inside Geneve.
    let run = common::analyze_json(&[&file], &[]);
    let summary = run.summary.expect("a summary line");
    assert_eq!(summary["tunneled"], 24, "every packet came inside Geneve");
    assert_eq!(summary["tcp_packets"], 24);
    let conns = run.connections;
    assert_eq!(conns.len(), 1, "{conns:#?}");
    let c = &conns[0];
    assert_eq!(c["server"], "145.40.68.75:443");
    // tshark: geneve.vni 0x001092, outer 127.0.0.1 both ways.
    assert_eq!(c["tunnel"]["kind"], "geneve");
    assert_eq!(c["tunnel"]["id"], 4242);
    assert_eq!(c["tunnel"]["outer_src"], "127.0.0.1");
    assert_eq!(c["outcome"], "handshake_complete");
    assert_eq!(c["sni"], "www.kernel.org");
    assert_eq!(c["tls_version"], "TLS 1.2");
    if cannot_run(&["tshark"], false).is_some() {
        eprintln!("skipped the evidence part: tshark is not installed");
        return;
    }
    // Evidence, anonymized: inner Ethernet frames only, no address of either layer left.
    let ev = tmp("geneve-evidence.pcapng");
    let run = common::analyze_json(
        &[&file],
        &[
            "--evidence",
            ev.to_str().unwrap(),
            "--evidence-all",
            "--anonymize-key",
            "k",
        ],
    );
    assert_eq!(run.connections.len(), 1);
    assert!(tshark(&ev, "geneve or udp", &["frame.number"]).is_empty());
    let ips = tshark(&ev, "ip", &["ip.src", "ip.dst"]);
    assert_eq!(ips.len(), 24);
    let original: Vec<String> = tshark(&file, "ip", &["ip.src", "ip.dst"])
        .iter()
        .flat_map(|r| r.split([',', '\t']).map(str::to_string).collect::<Vec<_>>())
        .collect();
    for row in &ips {
        for a in row.split('\t') {
            assert!(
                !original.contains(&a.to_string()),
                "{a} left in the evidence"
            );
        }
    }
    let described = tshark(&ev, "frame.number == 1", &["frame.interface_description"]);
    assert!(described[0].contains("tunnels carry"), "{described:?}");
}
