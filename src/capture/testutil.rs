//! Test helpers: tiny pcap/pcapng writers, temporary files, and the peers corpus location.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The peers corpus directory (`../shared/corpus/peers` from the crate root), if it exists.
pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/peers");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: peers corpus not found at {}", p.display());
        None
    }
}

/// A file in the corpus, or `None` (with a message) when the corpus is not there.
pub(crate) fn corpus_file(rel: &str) -> Option<PathBuf> {
    let p = corpus_dir()?.join(rel);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

/// A temporary file removed on drop.
pub(crate) struct TempFile(pub PathBuf);

impl TempFile {
    pub(crate) fn new(suffix: &str, contents: &[u8]) -> TempFile {
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!(
            "tlsautopsy-test-{}-{n}{suffix}",
            std::process::id()
        ));
        std::fs::write(&p, contents).unwrap();
        TempFile(p)
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Builds a classic pcap file.
pub(crate) struct PcapWriter {
    pub buf: Vec<u8>,
    be: bool,
    nanos: bool,
}

impl PcapWriter {
    pub(crate) fn new(link: u32, big_endian: bool, nanos: bool) -> PcapWriter {
        let mut w = PcapWriter {
            buf: Vec::new(),
            be: big_endian,
            nanos,
        };
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        w.u32(magic);
        w.u16(2);
        w.u16(4);
        w.u32(0);
        w.u32(0);
        w.u32(262_144);
        w.u32(link);
        w
    }
    fn u16(&mut self, v: u16) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    fn u32(&mut self, v: u32) {
        let b = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.buf.extend_from_slice(&b);
    }
    /// Adds a record; `ts_ns` is converted to the file's resolution.
    pub(crate) fn packet(&mut self, ts_ns: u64, data: &[u8], origlen: u32) -> &mut Self {
        self.u32((ts_ns / 1_000_000_000) as u32);
        let frac = ts_ns % 1_000_000_000;
        self.u32(if self.nanos { frac } else { frac / 1000 } as u32);
        self.u32(data.len() as u32);
        self.u32(origlen);
        self.buf.extend_from_slice(data);
        self
    }
    pub(crate) fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// Builds a pcapng file, block by block.
pub(crate) struct PcapNgWriter {
    pub buf: Vec<u8>,
    be: bool,
}

impl PcapNgWriter {
    pub(crate) fn new(big_endian: bool) -> PcapNgWriter {
        PcapNgWriter {
            buf: Vec::new(),
            be: big_endian,
        }
    }
    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    pub(crate) fn option(&self, code: u16, value: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend_from_slice(&self.u16b(code));
        o.extend_from_slice(&self.u16b(value.len() as u16));
        o.extend_from_slice(value);
        while o.len() % 4 != 0 {
            o.push(0);
        }
        o
    }
    /// Appends a block with the given body (padded to 4 bytes).
    pub(crate) fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
        let mut body = body.to_vec();
        while body.len() % 4 != 0 {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let (t, l) = (self.u32b(btype), self.u32b(len));
        self.buf.extend_from_slice(&t);
        self.buf.extend_from_slice(&l);
        self.buf.extend_from_slice(&body);
        self.buf.extend_from_slice(&l);
        self
    }
    pub(crate) fn shb(&mut self, comments: &[&str]) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32b(0x1A2B_3C4D));
        body.extend_from_slice(&self.u16b(1));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&(-1i64).to_le_bytes());
        for c in comments {
            body.extend(self.option(1, c.as_bytes()));
        }
        if !comments.is_empty() {
            body.extend(self.option(0, &[]));
        }
        self.block(0x0A0D_0D0A, &body)
    }
    pub(crate) fn idb(
        &mut self,
        link: u16,
        snaplen: u32,
        tsresol: Option<u8>,
        tsoffset: Option<i64>,
        name: Option<&str>,
    ) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u16b(link));
        body.extend_from_slice(&self.u16b(0));
        body.extend_from_slice(&self.u32b(snaplen));
        let mut opts = Vec::new();
        if let Some(n) = name {
            opts.extend(self.option(2, n.as_bytes()));
        }
        if let Some(r) = tsresol {
            opts.extend(self.option(9, &[r]));
        }
        if let Some(o) = tsoffset {
            let b = if self.be {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            };
            opts.extend(self.option(14, &b));
        }
        if !opts.is_empty() {
            opts.extend(self.option(0, &[]));
        }
        body.extend(opts);
        self.block(1, &body)
    }
    pub(crate) fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], origlen: u32) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32b(if_id));
        body.extend_from_slice(&self.u32b((ts >> 32) as u32));
        body.extend_from_slice(&self.u32b(ts as u32));
        body.extend_from_slice(&self.u32b(data.len() as u32));
        body.extend_from_slice(&self.u32b(origlen));
        body.extend_from_slice(data);
        self.block(6, &body)
    }
    pub(crate) fn spb(&mut self, data: &[u8], origlen: u32) -> &mut Self {
        let mut body = Vec::new();
        body.extend_from_slice(&self.u32b(origlen));
        body.extend_from_slice(data);
        self.block(3, &body)
    }
    pub(crate) fn finish(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// An IPv4/TCP SYN (40 bytes, no options) from 10.0.0.1:1234 to 10.0.0.2:443, checksums zero.
pub(crate) fn ipv4_tcp_syn() -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4
    ];
    p.extend_from_slice(&1234u16.to_be_bytes());
    p.extend_from_slice(&443u16.to_be_bytes());
    p.extend_from_slice(&1u32.to_be_bytes());
    p.extend_from_slice(&0u32.to_be_bytes());
    p.extend_from_slice(&[0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0]);
    p
}

/// Wraps an IP packet in an Ethernet II header with the given EtherType.
pub(crate) fn ethernet(ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&ether_type.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// Every capture file shipped in `captures/` and in the peers corpus (when present).
pub(crate) fn all_capture_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| {
                ["pcap", "pcapng", "cap", "dmp", "trace"]
                    .iter()
                    .any(|y| x == *y)
            }) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("captures"),
        &mut out,
    );
    if let Some(d) = corpus_dir() {
        walk(&d, &mut out);
    }
    out
}
