//! Mutation test: the real captures of `captures/`, damaged in bounded, deterministic ways (bit flips,
//! truncations, corrupted pcap/pcapng length fields, IP and TCP header lies, TLS record and handshake
//! length lies), never make tlsautopsy panic, exit with a status other than 0, 1 or 2, run long or use
//! much memory.
//!
//! Two passes over the same kind of mutants:
//! - in process, many mutants per capture through `tlsautopsy::fuzzing::analyze_with` (the whole
//!   pipeline and both printers), catching panics;
//! - the real binary, a few mutants per capture, under an address-space cap and a time limit, with
//!   its exit status and peak RSS checked.
//!
//! A failure names the capture and the mutations, and leaves the mutant file behind to reproduce it.

mod common;

use std::path::PathBuf;
use std::time::Duration;

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        if v.is_empty() {
            None
        } else {
            Some(v[self.below(v.len())])
        }
    }
}

/// Where the interesting fields of a capture are.
#[derive(Default)]
struct Layout {
    big_endian: bool,
    /// Offsets of 4-byte length fields of the container: pcap caplen/origlen, pcapng block lengths
    /// (leading and trailing), pcapng EPB caplen.
    container_lengths: Vec<usize>,
    /// Offsets of link type fields (pcap header, pcapng IDB), with their width.
    link_types: Vec<(usize, usize)>,
    /// (offset, length) of each packet's bytes.
    packets: Vec<(usize, usize)>,
}

fn rd32(b: &[u8], off: usize, be: bool) -> Option<u32> {
    let a: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    })
}

fn layout(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    match b.get(..4) {
        Some([0xd4, 0xc3, 0xb2, 0xa1]) | Some([0x4d, 0x3c, 0xb2, 0xa1]) => {}
        Some([0xa1, 0xb2, 0xc3, 0xd4]) | Some([0xa1, 0xb2, 0x3c, 0x4d]) => l.big_endian = true,
        Some([0x0a, 0x0d, 0x0d, 0x0a]) => return layout_pcapng(b),
        _ => return l,
    }
    l.link_types.push((20, 4));
    let mut off = 24;
    while let Some(caplen) = rd32(b, off + 8, l.big_endian) {
        l.container_lengths.push(off + 8);
        l.container_lengths.push(off + 12);
        let len = caplen as usize;
        if off + 16 + len > b.len() {
            break;
        }
        l.packets.push((off + 16, len));
        off += 16 + len;
    }
    l
}

fn layout_pcapng(b: &[u8]) -> Layout {
    let mut l = Layout::default();
    let mut off = 0;
    while let Some(raw) = rd32(b, off, false) {
        if raw == 0x0a0d_0d0a {
            l.big_endian = b.get(off + 8..off + 12) == Some(&[0x1a, 0x2b, 0x3c, 0x4d][..]);
        }
        let be = l.big_endian;
        let (Some(btype), Some(blen)) = (rd32(b, off, be), rd32(b, off + 4, be)) else {
            break;
        };
        let blen = blen as usize;
        if blen < 12 || off + blen > b.len() {
            break;
        }
        l.container_lengths.push(off + 4);
        l.container_lengths.push(off + blen - 4);
        match btype {
            1 => l.link_types.push((off + 8, 2)),
            6 => {
                l.container_lengths.push(off + 20);
                if let Some(caplen) = rd32(b, off + 20, be) {
                    let caplen = (caplen as usize).min(blen.saturating_sub(32));
                    l.packets.push((off + 28, caplen));
                }
            }
            _ => {}
        }
        off += blen;
    }
    l
}

/// Offsets of TLS record headers and IP headers inside packets.
fn wire_fields(b: &[u8], l: &Layout) -> (Vec<usize>, Vec<usize>) {
    let mut tls = Vec::new();
    let mut ip = Vec::new();
    for &(start, len) in &l.packets {
        let p = &b[start..(start + len).min(b.len())];
        for i in 0..p.len().saturating_sub(5) {
            if matches!(p[i], 0x14..=0x17) && p[i + 1] == 3 && p[i + 2] <= 4 {
                tls.push(start + i);
            }
            if i + 3 <= p.len()
                && ((p[i] == 0x08 && p[i + 1] == 0x00 && p[i + 2] & 0xf0 == 0x40)
                    || (p[i] == 0x86 && p[i + 1] == 0xdd && p[i + 2] & 0xf0 == 0x60))
            {
                ip.push(start + i + 2);
            }
        }
        // Raw IP link types: the packet starts with the IP header.
        if p.first()
            .is_some_and(|v| v & 0xf0 == 0x40 || v & 0xf0 == 0x60)
        {
            ip.push(start);
        }
    }
    (tls, ip)
}

const EXTREMES32: [u32; 9] = [
    0,
    1,
    3,
    0x7fff_ffff,
    0xffff_ffff,
    262_145,
    16 * 1024 * 1024 + 4,
    65_535,
    0x8000_0000,
];
const EXTREMES16: [u16; 8] = [0, 1, 4, 5, 0x4000, 0x4801, 0xfff0, 0xffff];

fn put32(b: &mut [u8], off: usize, v: u32, be: bool) {
    if let Some(d) = b.get_mut(off..off + 4) {
        d.copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }
}

fn put16be(b: &mut [u8], off: usize, v: u16) {
    if let Some(d) = b.get_mut(off..off + 2) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

/// Applies 1 to 4 random mutations; returns their description.
fn mutate(orig: &[u8], rng: &mut Rng) -> (Vec<u8>, Vec<String>) {
    let mut b = orig.to_vec();
    let l = layout(orig);
    let (tls, ip) = wire_fields(orig, &l);
    let mut what = Vec::new();
    let n = 1 + rng.below(4);
    for _ in 0..n {
        match rng.below(9) {
            0 => {
                let k = 1 + rng.below(16);
                for _ in 0..k {
                    let i = rng.below(b.len());
                    if let Some(x) = b.get_mut(i) {
                        *x ^= 1 << rng.below(8);
                    }
                }
                what.push(format!("{k} bit flips"));
            }
            1 => {
                let at = rng.below(b.len() + 1);
                b.truncate(at);
                what.push(format!("truncated at {at}"));
            }
            2 | 3 => {
                if let Some(off) = rng.pick(&l.container_lengths) {
                    let v = if rng.below(2) == 0 {
                        EXTREMES32[rng.below(EXTREMES32.len())]
                    } else {
                        rd32(orig, off, l.big_endian)
                            .unwrap_or(0)
                            .wrapping_add(rng.below(9) as u32)
                            .wrapping_sub(4)
                    };
                    put32(&mut b, off, v, l.big_endian);
                    what.push(format!("container length at {off} = {v}"));
                }
            }
            4 => {
                if let Some((off, w)) = rng.pick(&l.link_types) {
                    let v = [0u32, 105, 127, 147, 228, 276, 0xffff][rng.below(7)];
                    if w == 4 {
                        put32(&mut b, off, v, l.big_endian);
                    } else if let Some(d) = b.get_mut(off..off + 2) {
                        let v = v as u16;
                        d.copy_from_slice(&if l.big_endian {
                            v.to_be_bytes()
                        } else {
                            v.to_le_bytes()
                        });
                    }
                    what.push(format!("link type at {off} = {v}"));
                }
            }
            5 | 6 => {
                // Record-length lie, or a handshake-length lie behind a handshake record header.
                if let Some(off) = rng.pick(&tls) {
                    if rng.below(2) == 0 || b.get(off) != Some(&0x16) {
                        let v = EXTREMES16[rng.below(EXTREMES16.len())];
                        put16be(&mut b, off + 3, v);
                        what.push(format!("TLS record length at {off} = {v}"));
                    } else {
                        let v: u32 =
                            [0xff_ffff, 0x01_0000, 0x00_fff0, 0, 1, 0x00_4000][rng.below(6)];
                        if let Some(d) = b.get_mut(off + 6..off + 9) {
                            d.copy_from_slice(&v.to_be_bytes()[1..]);
                        }
                        what.push(format!("handshake length at {off} = {v}"));
                    }
                }
            }
            7 => {
                if let Some(off) = rng.pick(&ip) {
                    let v = EXTREMES16[rng.below(EXTREMES16.len())];
                    if b.get(off).is_some_and(|x| x & 0xf0 == 0x40) {
                        match rng.below(3) {
                            0 => put16be(&mut b, off + 2, v), // total length
                            1 => put16be(&mut b, off + 6, v), // flags + fragment offset
                            _ => {
                                // TCP data offset
                                let ihl = usize::from(b[off] & 0x0f) * 4;
                                if let Some(x) = b.get_mut(off + ihl + 12) {
                                    *x = (rng.below(16) as u8) << 4;
                                }
                            }
                        }
                    } else {
                        put16be(&mut b, off + 4, v); // IPv6 payload length
                    }
                    what.push(format!("IP header field at {off} = {v}"));
                }
            }
            _ => {
                // Duplicate or drop a stretch of bytes (pktmon-style copies, lost blocks).
                if !b.is_empty() {
                    let s = rng.below(b.len());
                    let e = (s + 1 + rng.below(2048)).min(b.len());
                    if rng.below(2) == 0 {
                        let piece = b[s..e].to_vec();
                        b.splice(e..e, piece);
                        what.push(format!("bytes {s}..{e} duplicated"));
                    } else {
                        b.drain(s..e);
                        what.push(format!("bytes {s}..{e} removed"));
                    }
                }
            }
        }
    }
    (b, what)
}

fn captures() -> Vec<PathBuf> {
    let v = common::shipped_captures();
    assert!(v.len() >= 40, "expected the shipped captures");
    v
}

#[test]
fn mutated_captures_never_panic_in_process() {
    const PER_CAPTURE: usize = 60;
    let mut rng = Rng(0x7115_a0b5_u64 ^ 0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    let mut small = tlsautopsy::fuzzing::small_limits();
    small.max_connections = 2;
    for f in captures() {
        let orig = std::fs::read(&f).expect("read capture");
        for i in 0..PER_CAPTURE {
            let (m, what) = mutate(&orig, &mut rng);
            let opts = if i % 2 == 0 {
                tlsautopsy::analyze::Options::default()
            } else {
                small
            };
            let r = std::panic::catch_unwind(|| tlsautopsy::fuzzing::analyze_with(&m, opts));
            if r.is_err() {
                let name = format!(
                    "{}-{i}",
                    f.file_name().and_then(|n| n.to_str()).unwrap_or("x")
                );
                let p = common::temp_file("mutation", &name, &m);
                failures.push(format!(
                    "{} ({}): {}",
                    f.display(),
                    what.join(", "),
                    p.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "panics on mutated captures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn mutated_captures_exit_0_1_2_in_bounded_time_and_memory() {
    const PER_CAPTURE: usize = 8;
    const VMEM_KIB: u64 = 1024 * 1024;
    const MAX_RSS_KIB: u64 = 128 * 1024;
    const TIME: Duration = Duration::from_secs(20);
    let mut rng = Rng(0x005e_ed0f_f00d);
    let mut failures = Vec::new();
    let mut runs = 0;
    let mut worst_rss = 0;
    let mut worst_time = Duration::ZERO;
    for f in captures() {
        let orig = std::fs::read(&f).expect("read capture");
        let stem = f.file_name().and_then(|n| n.to_str()).unwrap_or("x");
        for i in 0..PER_CAPTURE {
            let (m, what) = mutate(&orig, &mut rng);
            let ext = if orig.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
                "pcapng"
            } else {
                "pcap"
            };
            let p = common::temp_file("mutation-bin", &format!("{stem}-{i}.{ext}"), &m);
            let path = p.to_str().expect("utf8");
            let args: Vec<&str> = if i % 2 == 0 {
                vec!["analyze", "--json", path]
            } else {
                vec!["analyze", "--all", "--max-connections", "2", path]
            };
            let r = common::run_bounded(&args, VMEM_KIB, TIME);
            runs += 1;
            worst_time = worst_time.max(r.elapsed);
            let rss = r.peak_rss_kib.unwrap_or(u64::MAX);
            worst_rss = worst_rss.max(rss);
            let problem = if r.timed_out {
                Some(format!("still running after {TIME:?}"))
            } else if !matches!(r.status, Some(0..=2)) {
                Some(format!("exit status {:?}", r.status))
            } else if r.stderr.contains("panicked") {
                Some("panicked".to_string())
            } else if rss > MAX_RSS_KIB {
                Some(format!("peak RSS {rss} KiB"))
            } else {
                None
            };
            match problem {
                Some(why) => failures.push(format!(
                    "{} ({}): {why}: {} | stderr: {}",
                    f.display(),
                    what.join(", "),
                    p.display(),
                    r.stderr.lines().take(3).collect::<Vec<_>>().join(" | ")
                )),
                None => {
                    let _ = std::fs::remove_file(&p);
                }
            }
        }
    }
    eprintln!("{runs} runs: slowest {worst_time:?}, peak RSS at most {worst_rss} KiB");
    assert!(
        failures.is_empty(),
        "{} of {runs} mutated captures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
