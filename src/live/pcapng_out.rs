//! A minimal pcapng writer for `live --write` and `live --evidence`: one Section Header Block (with
//! an optional comment), one Interface Description Block per interface (its name, link type, snaplen
//! and nanosecond time resolution) and one Enhanced Packet Block per packet, little-endian.
//!
//! Self-contained on purpose, so that a richer writer (comments per packet, redaction) can replace it.

use std::io::{self, Write};

use crate::capture::{LinkType, Timestamp};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;

/// One interface of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfaceDesc {
    pub name: String,
    /// LINKTYPE_ value.
    pub link: LinkType,
    pub snaplen: u32,
}

/// Writes a pcapng file: the header and interfaces at creation, then packets.
pub struct PcapngWriter<W: Write> {
    out: W,
    bytes: u64,
    packets: u64,
    interfaces: u32,
}

fn pad4(n: usize) -> usize {
    (4 - n % 4) % 4
}

fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    // Option values longer than u16::MAX cannot be written; ours are names and comments.
    let value = &value[..value.len().min(usize::from(u16::MAX))];
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.extend(std::iter::repeat_n(0u8, pad4(value.len())));
}

fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&block_type.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

impl<W: Write> PcapngWriter<W> {
    /// Write the section header (with `comment`, if any) and one interface block per interface.
    pub fn new(mut out: W, comment: Option<&str>, interfaces: &[IfaceDesc]) -> io::Result<Self> {
        let mut body = Vec::new();
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&0u16.to_le_bytes());
        body.extend_from_slice(&u64::MAX.to_le_bytes()); // section length unknown
        if let Some(c) = comment {
            option(&mut body, OPT_COMMENT, c.as_bytes());
        }
        let appl = format!("tlsautopsy {}", env!("CARGO_PKG_VERSION"));
        option(&mut body, SHB_USERAPPL, appl.as_bytes());
        option(&mut body, OPT_END, &[]);
        let mut bytes = 0u64;
        let b = block(SHB, &body);
        out.write_all(&b)?;
        bytes += b.len() as u64;
        for i in interfaces {
            let mut body = Vec::new();
            let link = u16::try_from(i.link.0).unwrap_or(u16::MAX);
            body.extend_from_slice(&link.to_le_bytes());
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&i.snaplen.to_le_bytes());
            option(&mut body, IF_NAME, i.name.as_bytes());
            option(&mut body, IF_TSRESOL, &[9]);
            option(&mut body, OPT_END, &[]);
            let b = block(IDB, &body);
            out.write_all(&b)?;
            bytes += b.len() as u64;
        }
        Ok(PcapngWriter {
            out,
            bytes,
            packets: 0,
            interfaces: interfaces.len() as u32,
        })
    }

    /// Write one packet captured on interface `iface` (its index in the list given to [`Self::new`]).
    pub fn packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        origlen: u32,
        data: &[u8],
    ) -> io::Result<()> {
        if iface >= self.interfaces {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("pcapng: no interface {iface}"),
            ));
        }
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng: packet too long"))?;
        let mut head = [0u8; 28];
        let total = 12 + 20 + data.len() + pad4(data.len());
        head[0..4].copy_from_slice(&EPB.to_le_bytes());
        head[4..8].copy_from_slice(&(total as u32).to_le_bytes());
        head[8..12].copy_from_slice(&iface.to_le_bytes());
        head[12..16].copy_from_slice(&((ts.0 >> 32) as u32).to_le_bytes());
        head[16..20].copy_from_slice(&(ts.0 as u32).to_le_bytes());
        head[20..24].copy_from_slice(&caplen.to_le_bytes());
        head[24..28].copy_from_slice(&origlen.max(caplen).to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0u8; 3][..pad4(data.len())])?;
        self.out.write_all(&(total as u32).to_le_bytes())?;
        self.bytes += total as u64;
        self.packets += 1;
        Ok(())
    }

    /// Bytes written so far (headers included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Packets written so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Flush the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureFormat, CaptureReader};

    #[test]
    fn round_trip_through_our_reader() {
        let ifaces = [
            IfaceDesc {
                name: "lo".into(),
                link: LinkType::ETHERNET,
                snaplen: 262_144,
            },
            IfaceDesc {
                name: "any".into(),
                link: LinkType::LINUX_SLL,
                snaplen: 65_535,
            },
        ];
        let mut w = PcapngWriter::new(Vec::new(), Some("unredacted"), &ifaces).unwrap();
        w.packet(0, Timestamp(1_700_000_000_123_456_789), 5, b"abcde")
            .unwrap();
        w.packet(1, Timestamp(1_700_000_001_000_000_001), 100, b"xyz")
            .unwrap();
        assert!(w.packet(2, Timestamp(0), 1, b"a").is_err());
        assert_eq!(w.packets(), 2);
        let bytes = w.into_inner();
        assert_eq!(bytes.len() % 4, 0);
        let mut r = CaptureReader::from_reader("mem".into(), Box::new(std::io::Cursor::new(bytes)))
            .unwrap();
        assert_eq!(r.format(), CaptureFormat::PcapNg);
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.number, f.ts, f.link, f.interface, f.origlen, f.data),
            (
                1,
                Timestamp(1_700_000_000_123_456_789),
                LinkType::ETHERNET,
                0,
                5,
                &b"abcde"[..]
            )
        );
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(
            (f.number, f.ts, f.link, f.interface, f.origlen, f.data),
            (
                2,
                Timestamp(1_700_000_001_000_000_001),
                LinkType::LINUX_SLL,
                1,
                100,
                &b"xyz"[..]
            )
        );
        assert!(r.next_frame().unwrap().is_none());
        assert_eq!(r.section_comments(), ["unredacted".to_string()]);
        let names: Vec<_> = r.interfaces().iter().map(|i| i.link).collect();
        assert_eq!(names, vec![LinkType::ETHERNET, LinkType::LINUX_SLL]);
    }
}
