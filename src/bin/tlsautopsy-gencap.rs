//! Benchmark data generator: writes a large, realistic capture deterministically, and says exactly how
//! many connections of each outcome it wrote.
//!
//! It replays the real connections of `captures/` (Ethernet pcaps with one connection, whose verdict
//! does not depend on where the capture ends) with fresh client addresses and ports, many times over,
//! interleaved in time, and mixes in bulk transfers: the successful TLS 1.3 connection of
//! `tls13_ok.pcap` with about 1 MB of application data inserted before its close. Every packet keeps
//! its original relative timing within its connection, so every verdict is the same as the original's.
//!
//! ```text
//! tlsautopsy-gencap --captures captures --size-mb 2000 --out big.pcap
//! ```
//! writes `big.pcap` and `big.pcap.expected.json` (`{"connections": N, "outcomes": {...}, "bytes": B}`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use tlsautopsy::capture::{CaptureFormat, CaptureReader, LinkType};

/// Generate a large capture from the scenario captures.
#[derive(Parser)]
#[command(name = "tlsautopsy-gencap")]
struct Args {
    /// The captures/ directory (with expected.tsv).
    #[arg(long, default_value = "captures")]
    captures: PathBuf,
    /// Approximate size of the output in MB (10^6 bytes).
    #[arg(long, default_value_t = 100)]
    size_mb: u64,
    /// Output pcap.
    #[arg(long)]
    out: PathBuf,
    /// Every Nth connection is a bulk transfer (0: none).
    #[arg(long, default_value_t = 8)]
    bulk_every: u64,
    /// Application data per bulk transfer, in KB.
    #[arg(long, default_value_t = 1024)]
    bulk_kb: u64,
    /// Microseconds between connection starts.
    #[arg(long, default_value_t = 200)]
    spacing_us: u64,
}

/// One connection to replay: its frames (Ethernet) with times relative to its first frame.
struct Template {
    name: String,
    outcome: String,
    frames: Vec<(u64, Vec<u8>)>,
    /// The client's address and port as in the original, to recognise its packets.
    client_v4: Option<[u8; 4]>,
    client_v6: Option<[u8; 16]>,
    client_port: u16,
}

/// Offsets of the fields we rewrite in an Ethernet frame.
struct Layout {
    ip: usize,
    v6: bool,
    tcp: Option<usize>,
}

fn layout(f: &[u8]) -> Option<Layout> {
    let ethertype = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let ip = 14;
    match ethertype {
        0x0800 => {
            let ihl = usize::from(f.get(ip)? & 0x0f) * 4;
            let proto = *f.get(ip + 9)?;
            Some(Layout {
                ip,
                v6: false,
                tcp: (proto == 6).then_some(ip + ihl),
            })
        }
        0x86dd => {
            let next = *f.get(ip + 6)?;
            Some(Layout {
                ip,
                v6: true,
                tcp: (next == 6).then_some(ip + 40),
            })
        }
        _ => None,
    }
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Recompute the IPv4 header and TCP checksums (or ICMP checksums stay as they are: ICMP errors
/// quote the original addresses and are not replayed with new ones).
fn fix_checksums(f: &mut [u8], l: &Layout) {
    if !l.v6 {
        let ihl = usize::from(f[l.ip] & 0x0f) * 4;
        f[l.ip + 10] = 0;
        f[l.ip + 11] = 0;
        let c = fold(sum16(&f[l.ip..l.ip + ihl], 0));
        f[l.ip + 10..l.ip + 12].copy_from_slice(&c.to_be_bytes());
    }
    let Some(t) = l.tcp else { return };
    if t + 18 > f.len() {
        return;
    }
    f[t + 16] = 0;
    f[t + 17] = 0;
    let tcp_len = f.len() - t;
    let mut acc = 0u32;
    if l.v6 {
        acc = sum16(&f[l.ip + 8..l.ip + 40], acc);
    } else {
        acc = sum16(&f[l.ip + 12..l.ip + 20], acc);
    }
    acc += 6 + tcp_len as u32;
    let c = fold(sum16(&f[t..], acc));
    f[t + 16..t + 18].copy_from_slice(&c.to_be_bytes());
}

fn load_templates(dir: &Path) -> Result<Vec<Template>> {
    let tsv = std::fs::read_to_string(dir.join("expected.tsv")).context("reading expected.tsv")?;
    let mut per_file: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let [file, server, _nth, outcome, ..] = cols.as_slice() {
            per_file
                .entry(file.to_string())
                .or_default()
                .push((server.to_string(), outcome.to_string()));
        }
    }
    let mut out = Vec::new();
    for (file, rows) in per_file {
        // One connection per file, verdict independent of where the capture ends.
        if rows.len() != 1 || !file.ends_with(".pcap") {
            continue;
        }
        let outcome = rows[0].1.clone();
        if matches!(outcome.as_str(), "in_progress" | "midstream") {
            continue;
        }
        let mut r = CaptureReader::open(&dir.join(&file)).with_context(|| file.clone())?;
        if !matches!(r.format(), CaptureFormat::Pcap { .. })
            || r.interfaces().first().map(|i| i.link) != Some(LinkType::ETHERNET)
        {
            continue;
        }
        let mut frames = Vec::new();
        let mut t0 = None;
        while let Some(f) = r.next_frame()? {
            let start = *t0.get_or_insert(f.ts.0);
            frames.push((f.ts.0.saturating_sub(start), f.data.to_vec()));
        }
        // The client: the source of the first packet (every scenario starts with the client's SYN).
        let Some((_, first)) = frames.first() else {
            continue;
        };
        let Some(l) = layout(first) else { continue };
        if first.len() < 14 + 20 + 4 || frames.iter().any(|(_, f)| layout(f).is_none()) {
            continue;
        }
        let (client_v4, client_v6) = if l.v6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&first[l.ip + 8..l.ip + 24]);
            (None, Some(a))
        } else {
            let mut a = [0u8; 4];
            a.copy_from_slice(&first[l.ip + 12..l.ip + 16]);
            (Some(a), None)
        };
        let Some(t) = l.tcp else { continue };
        let client_port = u16::from_be_bytes([first[t], first[t + 1]]);
        out.push(Template {
            name: file,
            outcome,
            frames,
            client_v4,
            client_v6,
            client_port,
        });
    }
    if out.is_empty() {
        bail!("no usable scenario captures in {}", dir.display());
    }
    Ok(out)
}

/// tls13_ok with `kb` KB of application data from the server inserted before its first FIN.
fn bulk_template(base: &Template, kb: u64) -> Option<Template> {
    let is_client = |f: &[u8], l: &Layout| -> bool {
        match (base.client_v4, l.v6) {
            (Some(a), false) => f[l.ip + 12..l.ip + 16] == a,
            _ => false,
        }
    };
    // Index of the server's FIN (or the last packet).
    let fin_idx = base.frames.iter().position(|(_, f)| {
        let Some(l) = layout(f) else { return false };
        let Some(t) = l.tcp else { return false };
        !is_client(f, &l) && f.get(t + 13).is_some_and(|fl| fl & 0x01 != 0)
    })?;
    let (t_fin, fin) = &base.frames[fin_idx];
    let l = layout(fin)?;
    let t = l.tcp?;
    let server_seq = u32::from_be_bytes(fin[t + 4..t + 8].try_into().ok()?);
    let client_seq = u32::from_be_bytes(fin[t + 8..t + 12].try_into().ok()?);
    let total = (kb * 1024) as usize;
    let mss = 1448usize;
    // The application data stream: TLS records of 16 KiB + 22 bytes of overhead.
    let mut stream = Vec::with_capacity(total + total / 16384 * 5 + 5);
    while stream.len() < total {
        let len: u16 = 16384 + 17;
        stream.extend_from_slice(&[0x17, 0x03, 0x03]);
        stream.extend_from_slice(&len.to_be_bytes());
        let body = stream.len();
        stream.resize(body + usize::from(len), 0);
        for (i, b) in stream[body..].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
    }
    let inserted = stream.len() as u32;
    let mut frames: Vec<(u64, Vec<u8>)> = base.frames[..fin_idx].to_vec();
    let hdr_len = t + 20 + (usize::from(fin[t + 12] >> 4) * 4 - 20);
    // A client ACK template: the first pure ACK from the client.
    let ack_tpl = base.frames.iter().find_map(|(_, f)| {
        let l = layout(f)?;
        let tt = l.tcp?;
        let hl = usize::from(f[tt + 12] >> 4) * 4;
        (is_client(f, &l) && f.len() == tt + hl && f[tt + 13] == 0x10).then(|| f.clone())
    })?;
    let mut ts = frames.last().map_or(0, |f| f.0);
    for (i, chunk) in stream.chunks(mss).enumerate() {
        ts += 10_000; // 10 µs per segment: about 1.2 Gbit/s
        let mut p = fin[..hdr_len].to_vec();
        p.extend_from_slice(chunk);
        let seq = server_seq.wrapping_add((i * mss) as u32);
        p[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        p[t + 13] = 0x18; // PSH+ACK
        if !l.v6 {
            let tot = (p.len() - l.ip) as u16;
            p[l.ip + 2..l.ip + 4].copy_from_slice(&tot.to_be_bytes());
        } else {
            let pl = (p.len() - l.ip - 40) as u16;
            p[l.ip + 4..l.ip + 6].copy_from_slice(&pl.to_be_bytes());
        }
        fix_checksums(&mut p, &l);
        frames.push((ts, p));
        if i % 2 == 1 {
            let mut a = ack_tpl.clone();
            let al = layout(&a)?;
            let at = al.tcp?;
            let ack = server_seq.wrapping_add((i * mss + chunk.len()) as u32);
            a[at + 4..at + 8].copy_from_slice(&client_seq.to_be_bytes());
            a[at + 8..at + 12].copy_from_slice(&ack.to_be_bytes());
            fix_checksums(&mut a, &al);
            frames.push((ts + 1_000, a));
        }
    }
    // The rest, shifted: server seqs and client acks move by the inserted bytes.
    let shift = ts.saturating_sub(*t_fin) + 10_000;
    for (rel, f) in &base.frames[fin_idx..] {
        let mut p = f.clone();
        let pl = layout(&p)?;
        let pt = pl.tcp?;
        if is_client(&p, &pl) {
            let ack =
                u32::from_be_bytes(p[pt + 8..pt + 12].try_into().ok()?).wrapping_add(inserted);
            p[pt + 8..pt + 12].copy_from_slice(&ack.to_be_bytes());
        } else {
            let seq = u32::from_be_bytes(p[pt + 4..pt + 8].try_into().ok()?).wrapping_add(inserted);
            p[pt + 4..pt + 8].copy_from_slice(&seq.to_be_bytes());
        }
        fix_checksums(&mut p, &pl);
        frames.push((rel + shift, p));
    }
    Some(Template {
        name: format!("{} + {kb} KB bulk", base.name),
        outcome: base.outcome.clone(),
        frames,
        client_v4: base.client_v4,
        client_v6: base.client_v6,
        client_port: base.client_port,
    })
}

/// A connection being written: template, index of its next frame, start time, new client identity.
struct Active {
    tpl: Rc<Template>,
    next: usize,
    start: u64,
    k: u64,
}

fn rewrite(tpl: &Template, frame: &[u8], k: u64) -> Vec<u8> {
    let mut p = frame.to_vec();
    let Some(l) = layout(&p) else { return p };
    let new_port = 1024 + (k % 60_000) as u16;
    let slot = k / 60_000;
    // Which side is the client in this packet (source or destination)?
    let (src, dst, len) = if l.v6 {
        (l.ip + 8, l.ip + 24, 16)
    } else {
        (l.ip + 12, l.ip + 16, 4)
    };
    let is = |off: usize| -> bool {
        match (tpl.client_v4, tpl.client_v6) {
            (Some(a), _) if len == 4 => p[off..off + 4] == a,
            (_, Some(a)) if len == 16 => p[off..off + 16] == a,
            _ => false,
        }
    };
    let client_is_src = is(src);
    let client_is_dst = is(dst);
    let new_addr = |p: &mut [u8], off: usize| {
        if len == 4 {
            // 10.0.0.0/8, one address per 60,000 connections.
            let a = (10u32 << 24) | (slot as u32 & 0x00ff_ffff);
            p[off..off + 4].copy_from_slice(&a.to_be_bytes());
        } else {
            p[off + 8..off + 16].copy_from_slice(&slot.to_be_bytes());
        }
    };
    if client_is_src {
        new_addr(&mut p, src);
        if let Some(t) = l.tcp {
            if u16::from_be_bytes([p[t], p[t + 1]]) == tpl.client_port {
                p[t..t + 2].copy_from_slice(&new_port.to_be_bytes());
            }
        }
    } else if client_is_dst {
        new_addr(&mut p, dst);
        if let Some(t) = l.tcp {
            if u16::from_be_bytes([p[t + 2], p[t + 3]]) == tpl.client_port {
                p[t + 2..t + 4].copy_from_slice(&new_port.to_be_bytes());
            }
        }
    }
    if l.tcp.is_some() {
        fix_checksums(&mut p, &l);
    }
    p
}

fn main() -> Result<()> {
    let a = Args::parse();
    let mut templates: Vec<Rc<Template>> = load_templates(&a.captures)?
        .into_iter()
        .map(Rc::new)
        .collect();
    // ICMP errors quote the original client address: keep those scenarios out of the replay.
    templates.retain(|t| !t.name.starts_with("syn_unreachable"));
    let bulk = if a.bulk_every > 0 {
        let base = templates
            .iter()
            .find(|t| t.name == "tls13_ok.pcap")
            .context("tls13_ok.pcap is needed for bulk transfers")?;
        Some(Rc::new(
            bulk_template(base, a.bulk_kb).context("could not build the bulk transfer")?,
        ))
    } else {
        None
    };
    let target = a.size_mb * 1_000_000;
    let mut out = BufWriter::with_capacity(
        1 << 20,
        File::create(&a.out).with_context(|| a.out.display().to_string())?,
    );
    // Classic pcap, nanoseconds, Ethernet.
    out.write_all(&0xa1b2_3c4du32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0u8; 8])?;
    out.write_all(&262_144u32.to_le_bytes())?;
    out.write_all(&1u32.to_le_bytes())?;
    let mut written: u64 = 24;
    let t0: u64 = 1_700_000_000 * 1_000_000_000;
    let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::new();
    let mut active: BTreeMap<u64, Active> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut k: u64 = 0;
    let mut next_start = t0;
    let mut frames: u64 = 0;
    // The state of a tiny deterministic generator, to vary the mix without a dependency.
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        // Start connections until the next one would start after the earliest pending packet.
        while written < target && heap.peek().is_none_or(|Reverse((ts, _))| next_start <= *ts) {
            let tpl = match &bulk {
                Some(b) if a.bulk_every > 0 && k % a.bulk_every == a.bulk_every - 1 => b.clone(),
                _ => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    templates[(rng % templates.len() as u64) as usize].clone()
                }
            };
            *outcomes.entry(tpl.outcome.clone()).or_insert(0) += 1;
            heap.push(Reverse((next_start + tpl.frames[0].0, k)));
            active.insert(
                k,
                Active {
                    tpl,
                    next: 0,
                    start: next_start,
                    k,
                },
            );
            k += 1;
            next_start += a.spacing_us * 1000;
        }
        let Some(Reverse((ts, id))) = heap.pop() else {
            break;
        };
        let Some(conn) = active.get_mut(&id) else {
            continue;
        };
        let (_, frame) = &conn.tpl.frames[conn.next];
        let p = rewrite(&conn.tpl, frame, conn.k);
        out.write_all(&((ts / 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&((ts % 1_000_000_000) as u32).to_le_bytes())?;
        out.write_all(&(p.len() as u32).to_le_bytes())?;
        out.write_all(&(p.len() as u32).to_le_bytes())?;
        out.write_all(&p)?;
        written += 16 + p.len() as u64;
        frames += 1;
        conn.next += 1;
        if let Some((rel, _)) = conn.tpl.frames.get(conn.next) {
            heap.push(Reverse((conn.start + rel, id)));
        } else {
            active.remove(&id);
        }
    }
    out.flush()?;
    let expected = serde_json::json!({
        "connections": k,
        "outcomes": outcomes,
        "frames": frames,
        "bytes": written,
        "templates": templates.iter().map(|t| (t.name.clone(), t.outcome.clone())).collect::<BTreeMap<_, _>>(),
    });
    let exp_path = PathBuf::from(format!("{}.expected.json", a.out.display()));
    std::fs::write(&exp_path, serde_json::to_string_pretty(&expected)? + "\n")?;
    eprintln!(
        "wrote {} ({} bytes, {} frames, {} connections); expected verdicts in {}",
        a.out.display(),
        written,
        frames,
        k,
        exp_path.display()
    );
    Ok(())
}
