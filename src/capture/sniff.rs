//! Recognising what a file is from its first bytes, so that a file that is not a capture gets a
//! message saying what it is instead.

use super::error::ForeignFormat;

/// What the first bytes of a file say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    /// Classic pcap.
    Pcap {
        /// Header and records are big-endian.
        big_endian: bool,
        /// Timestamps are in nanoseconds (magic 0xa1b23c4d).
        nanosecond: bool,
        /// Kuznetzov's "modified" pcap (magic 0xa1b2cd34): 24-byte record headers.
        modified: bool,
    },
    /// pcapng (starts with a Section Header Block).
    PcapNg,
    /// Something else.
    Foreign(ForeignFormat),
}

/// How many bytes [`sniff`] likes to see (it works with fewer).
pub(crate) const SNIFF_LEN: usize = 512;

/// Classifies a file from its first bytes (`head`, at least one byte) and its name.
pub(crate) fn sniff(head: &[u8], name: &str) -> Detected {
    if let Some(magic) = head.get(..4) {
        let pcap = |big_endian, nanosecond, modified| Detected::Pcap {
            big_endian,
            nanosecond,
            modified,
        };
        match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => return pcap(false, false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => return pcap(true, false, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => return pcap(false, true, false),
            [0xa1, 0xb2, 0x3c, 0x4d] => return pcap(true, true, false),
            [0x34, 0xcd, 0xb2, 0xa1] => return pcap(false, false, true),
            [0xa1, 0xb2, 0xcd, 0x34] => return pcap(true, false, true),
            [0x0a, 0x0d, 0x0d, 0x0a] => return Detected::PcapNg,
            _ => {}
        }
    }
    Detected::Foreign(foreign(head, name))
}

fn foreign(head: &[u8], name: &str) -> ForeignFormat {
    let starts = |p: &[u8]| head.starts_with(p);
    if looks_like_etl(head) || has_extension(name, "etl") {
        ForeignFormat::Etl
    } else if starts(&[0x1f, 0x8b]) {
        ForeignFormat::Gzip
    } else if starts(b"BZh") {
        ForeignFormat::Bzip2
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        ForeignFormat::Xz
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        ForeignFormat::Zstd
    } else if starts(&[0x04, 0x22, 0x4d, 0x18]) {
        ForeignFormat::Lz4
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") || starts(b"PK\x07\x08") {
        ForeignFormat::Zip
    } else if starts(b"snoop\0\0\0") {
        ForeignFormat::Snoop
    } else if starts(b"GMBU") || starts(b"RTSS") {
        ForeignFormat::NetMon
    } else if looks_like_text(head) {
        ForeignFormat::Text
    } else {
        let mut first = [0u8; 4];
        for (dst, src) in first.iter_mut().zip(head.iter()) {
            *dst = *src;
        }
        ForeignFormat::Unknown(first)
    }
}

fn has_extension(name: &str, ext: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// An ETL file is a sequence of WMI buffers; the first buffer's 0x48-byte WMI_BUFFER_HEADER is followed
/// by the trace's first event, a SYSTEM_TRACE_HEADER whose marker is version 2, header type 1 or 2
/// (system trace, 32- or 64-bit) and flags 0xC0. The buffer size at offset 0 is a plausible power-of-two
/// multiple of 1 KiB. Loose on purpose: the only cost of a false positive is a different error message.
fn looks_like_etl(head: &[u8]) -> bool {
    let marker_ok = matches!(head.get(0x48..0x4c), Some([2, 0, 1 | 2, 0xc0]));
    let size_ok = head
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .is_some_and(|s| s.is_power_of_two() && (1024..=64 * 1024 * 1024).contains(&s));
    marker_ok && size_ok
}

/// Printable ASCII or UTF-8 with ordinary whitespace and no other control characters.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    // Ignore a UTF-8 character cut at the end of the sample.
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => match head.get(..e.valid_up_to()) {
            Some(valid) => std::str::from_utf8(valid).unwrap_or(""),
            None => "",
        },
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t' | '\x0c'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn pcap_magics() {
        assert_eq!(
            sniff(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0], "x"),
            Detected::Pcap {
                big_endian: false,
                nanosecond: false,
                modified: false
            }
        );
        assert_eq!(
            sniff(&[0xa1, 0xb2, 0x3c, 0x4d], "x"),
            Detected::Pcap {
                big_endian: true,
                nanosecond: true,
                modified: false
            }
        );
        assert_eq!(
            sniff(&[0x34, 0xcd, 0xb2, 0xa1], "x"),
            Detected::Pcap {
                big_endian: false,
                nanosecond: false,
                modified: true
            }
        );
        assert_eq!(
            sniff(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0], "x"),
            Detected::PcapNg
        );
    }

    #[test]
    fn foreign_formats() {
        let f = |b: &[u8], n: &str| sniff(b, n);
        assert_eq!(
            f(&[0x1f, 0x8b, 8, 0], "a.pcap.gz"),
            Detected::Foreign(ForeignFormat::Gzip)
        );
        assert_eq!(
            f(b"PK\x03\x04rest", "a.zip"),
            Detected::Foreign(ForeignFormat::Zip)
        );
        assert_eq!(
            f(b"snoop\0\0\0\0\0\0\x02", "a"),
            Detected::Foreign(ForeignFormat::Snoop)
        );
        assert_eq!(
            f(b"GMBU\x00\x02", "a.cap"),
            Detected::Foreign(ForeignFormat::NetMon)
        );
        assert_eq!(
            f(b"RTSS", "a.cap"),
            Detected::Foreign(ForeignFormat::NetMon)
        );
        assert_eq!(
            f(
                b"12:00:01.000 IP 10.0.0.1.443 > 10.0.0.2.5000: Flags [S]\n",
                "a.txt"
            ),
            Detected::Foreign(ForeignFormat::Text)
        );
        assert_eq!(
            f("h\u{e9}llo w\u{f6}rld\n".as_bytes(), "a"),
            Detected::Foreign(ForeignFormat::Text)
        );
        assert_eq!(
            f(&[0, 1, 2, 3, 4], "a"),
            Detected::Foreign(ForeignFormat::Unknown([0, 1, 2, 3]))
        );
        assert_eq!(
            f(&[7], "a"),
            Detected::Foreign(ForeignFormat::Unknown([7, 0, 0, 0]))
        );
        // ETL by extension, whatever the content.
        assert_eq!(
            f(&[0, 0, 1, 0], "trace.ETL"),
            Detected::Foreign(ForeignFormat::Etl)
        );
    }

    #[test]
    fn etl_by_header() {
        let mut h = vec![0u8; 0x60];
        h[..4].copy_from_slice(&0x1_0000u32.to_le_bytes());
        h[0x48..0x4c].copy_from_slice(&[2, 0, 2, 0xc0]);
        assert_eq!(
            sniff(&h, "PktMon.bin"),
            Detected::Foreign(ForeignFormat::Etl)
        );
        h[0x4b] = 0;
        assert_ne!(
            sniff(&h, "PktMon.bin"),
            Detected::Foreign(ForeignFormat::Etl)
        );
    }

    #[test]
    fn messages_give_advice() {
        assert!(ForeignFormat::Etl.to_string().contains("pktmon etl2pcap"));
        assert!(ForeignFormat::Gzip.to_string().contains("gzip -d"));
        assert!(ForeignFormat::NetMon.to_string().contains("not supported"));
        assert!(ForeignFormat::Snoop.to_string().contains("not supported"));
    }
}
