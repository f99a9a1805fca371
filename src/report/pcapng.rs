//! A minimal pcapng writer (little-endian, one section): a Section Header Block with comments, one
//! Interface Description Block per input interface (link type, snaplen, nanosecond timestamps), and
//! Enhanced Packet Blocks with optional comments (Wireshark's `frame.comment`).
//! Format: draft-ietf-opsawg-pcapng.

use std::io::{self, Write};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Options of a block, encoded.
#[derive(Default)]
struct Options(Vec<u8>);

impl Options {
    fn add(&mut self, code: u16, value: &[u8]) {
        // An option's length is 16 bits: longer values are cut (at a UTF-8 boundary for text).
        let value = &value[..value.len().min(0xfff0)];
        self.0.extend_from_slice(&code.to_le_bytes());
        self.0
            .extend_from_slice(&(value.len() as u16).to_le_bytes());
        self.0.extend_from_slice(value);
        self.0.extend(std::iter::repeat_n(0u8, pad4(value.len())));
    }

    fn text(&mut self, code: u16, s: &str) {
        let mut end = s.len().min(0xfff0);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.add(code, &s.as_bytes()[..end]);
    }

    fn finish(mut self) -> Vec<u8> {
        if !self.0.is_empty() {
            self.0.extend_from_slice(&OPT_END.to_le_bytes());
            self.0.extend_from_slice(&0u16.to_le_bytes());
        }
        self.0
    }
}

/// Writes one pcapng section.
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: u32,
    packets: u64,
}

impl<W: Write> PcapngWriter<W> {
    /// Start a section with `comments` (each one `opt_comment`) and the writing application's name.
    pub fn new(mut out: W, comments: &[String], userappl: &str) -> io::Result<Self> {
        let mut o = Options::default();
        for c in comments {
            o.text(OPT_COMMENT, c);
        }
        o.text(SHB_USERAPPL, userappl);
        let mut body = Vec::new();
        body.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length: not given
        body.extend(o.finish());
        block(&mut out, SHB, &body)?;
        Ok(PcapngWriter {
            out,
            interfaces: 0,
            packets: 0,
        })
    }

    /// Describe an interface; returns its id for [`PcapngWriter::packet`]. Timestamps are in ns.
    pub fn interface(
        &mut self,
        link_type: u32,
        snaplen: u32,
        name: &str,
        description: &str,
    ) -> io::Result<u32> {
        let mut o = Options::default();
        if !name.is_empty() {
            o.text(IF_NAME, name);
        }
        if !description.is_empty() {
            o.text(IF_DESCRIPTION, description);
        }
        o.add(IF_TSRESOL, &[9]);
        let mut body = Vec::new();
        body.extend_from_slice(&(link_type as u16).to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&snaplen.to_le_bytes());
        body.extend(o.finish());
        block(&mut self.out, IDB, &body)?;
        self.interfaces += 1;
        Ok(self.interfaces - 1)
    }

    /// Write a packet: `data` as captured (possibly cut), `origlen` its length on the wire, `ts_ns`
    /// nanoseconds since the epoch, each comment as `opt_comment`.
    pub fn packet(
        &mut self,
        interface: u32,
        ts_ns: u64,
        data: &[u8],
        origlen: u32,
        comments: &[String],
    ) -> io::Result<()> {
        let mut o = Options::default();
        for c in comments {
            o.text(OPT_COMMENT, c);
        }
        let mut body = Vec::with_capacity(20 + data.len() + 4);
        body.extend_from_slice(&interface.to_le_bytes());
        body.extend_from_slice(&((ts_ns >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts_ns as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&origlen.max(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        body.extend(std::iter::repeat_n(0u8, pad4(data.len())));
        body.extend(o.finish());
        block(&mut self.out, EPB, &body)?;
        self.packets += 1;
        Ok(())
    }

    /// Packets written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flush and return the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

fn block(out: &mut impl Write, kind: u32, body: &[u8]) -> io::Result<()> {
    debug_assert_eq!(body.len() % 4, 0);
    let total = (12 + body.len()) as u32;
    out.write_all(&kind.to_le_bytes())?;
    out.write_all(&total.to_le_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_le_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::CaptureReader;

    #[test]
    fn our_reader_reads_what_we_write() {
        let mut w = PcapngWriter::new(Vec::new(), &["hello\nworld".to_string()], "test").unwrap();
        let a = w.interface(1, 0, "", "eth").unwrap();
        let b = w.interface(101, 65535, "", "").unwrap();
        w.packet(a, 1_700_000_000_123_456_789, &[1, 2, 3], 60, &["c".into()])
            .unwrap();
        w.packet(b, 1_700_000_001_000_000_000, &[0x45; 21], 21, &[])
            .unwrap();
        let bytes = w.finish().unwrap();
        let path =
            std::env::temp_dir().join(format!("tlsautopsy-pcapng-{}.pcapng", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let mut r = CaptureReader::open(&path).unwrap();
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.ts.0, f.origlen, f.data.len()),
            (1_700_000_000_123_456_789, 60, 3)
        );
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!((f.link.0, f.interface, f.data.len()), (101, 1, 21));
        assert!(r.next_frame().unwrap().is_none());
        assert_eq!(r.section_comments(), &["hello\nworld".to_string()]);
        std::fs::remove_file(path).ok();
    }
}
