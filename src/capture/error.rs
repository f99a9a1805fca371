//! Errors from opening and reading capture files, worded for the person running the tool.

use std::fmt;

/// A file format we recognise but cannot read, with advice on what to do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForeignFormat {
    /// Windows Event Trace Log (pktmon / `netsh trace` output).
    Etl,
    /// gzip-compressed data (often a compressed pcap).
    Gzip,
    /// bzip2-compressed data.
    Bzip2,
    /// xz-compressed data.
    Xz,
    /// Zstandard-compressed data.
    Zstd,
    /// LZ4-compressed data (frame format).
    Lz4,
    /// A zip archive.
    Zip,
    /// Sun/Solaris snoop capture.
    Snoop,
    /// Microsoft Network Monitor capture (`.cap`).
    NetMon,
    /// Plain text (for example tcpdump's printed output, a hex dump, or a log).
    Text,
    /// Nothing we recognise. Holds the first bytes of the file (fewer when the file is shorter).
    Unknown([u8; 4]),
}

impl fmt::Display for ForeignFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForeignFormat::Etl => write!(
                f,
                "this looks like an ETL trace from pktmon or netsh; convert it with \
                 `pktmon etl2pcap FILE.etl --out FILE.pcapng` or etl2pcapng"
            ),
            ForeignFormat::Gzip => write!(
                f,
                "this is gzip-compressed data; decompress it first (`gzip -d FILE.gz`) and read the result"
            ),
            ForeignFormat::Bzip2 => write!(
                f,
                "this is bzip2-compressed data; decompress it first (`bzip2 -d FILE.bz2`) and read the result"
            ),
            ForeignFormat::Xz => write!(
                f,
                "this is xz-compressed data; decompress it first (`xz -d FILE.xz`) and read the result"
            ),
            ForeignFormat::Zstd => write!(
                f,
                "this is zstd-compressed data; decompress it first (`zstd -d FILE.zst`) and read the result"
            ),
            ForeignFormat::Lz4 => write!(
                f,
                "this is lz4-compressed data; decompress it first (`lz4 -d FILE.lz4`) and read the result"
            ),
            ForeignFormat::Zip => write!(
                f,
                "this is a zip archive; extract the capture from it first (`unzip FILE.zip`)"
            ),
            ForeignFormat::Snoop => write!(
                f,
                "this is a Solaris snoop capture, which is not supported; convert it to pcapng with \
                 `editcap -F pcapng FILE.snoop FILE.pcapng`"
            ),
            ForeignFormat::NetMon => write!(
                f,
                "this is a Microsoft Network Monitor capture, which is not supported; convert it to pcapng \
                 with `editcap -F pcapng FILE.cap FILE.pcapng` (or save it as pcapng from Wireshark)"
            ),
            ForeignFormat::Text => write!(
                f,
                "this is a text file, not a binary capture (tcpdump's printed output cannot be analysed; \
                 capture with `tcpdump -w FILE.pcap`, or convert a hex dump with text2pcap)"
            ),
            ForeignFormat::Unknown(b) => write!(
                f,
                "it is neither pcap nor pcapng (it starts with bytes {:02x} {:02x} {:02x} {:02x}, \
                 which match no capture format we know)",
                b[0], b[1], b[2], b[3]
            ),
        }
    }
}

/// Why a capture could not be opened or read to its end.
///
/// Every message names the file and says what a person can do about it.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The path does not exist.
    #[error("cannot open {path}: no such file")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The path is a directory.
    #[error("cannot read {path}: it is a directory, not a capture file")]
    IsDirectory {
        /// The path as given.
        path: String,
    },
    /// The file exists but has no bytes at all.
    #[error("{name} is empty (0 bytes): there is nothing to analyse")]
    Empty {
        /// File name (or `<stdin>`).
        name: String,
    },
    /// The file is something other than pcap/pcapng.
    #[error("{name} is not a pcap or pcapng capture: {kind}")]
    NotACapture {
        /// File name (or `<stdin>`).
        name: String,
        /// What the file looks like instead.
        kind: ForeignFormat,
    },
    /// The file starts like a capture but ends inside its file header.
    #[error("{name} is cut short: it ends inside the {format} file header after {len} bytes, before any packet")]
    HeaderTruncated {
        /// File name (or `<stdin>`).
        name: String,
        /// "pcap" or "pcapng".
        format: &'static str,
        /// How many bytes the file has.
        len: u64,
    },
    /// The file ends in the middle of a packet record or pcapng block. Returned once by
    /// [`crate::capture::CaptureReader::next_frame`]; the frames before the cut were returned normally.
    #[error(
        "{name} is truncated: it ends in the middle of a {what} that starts at byte {offset} \
         (after {frames} complete frames); the frames before the cut are analysed"
    )]
    Truncated {
        /// File name (or `<stdin>`).
        name: String,
        /// Frames returned before the cut.
        frames: u64,
        /// Byte offset where the incomplete record or block starts.
        offset: u64,
        /// "packet record" or "pcapng block".
        what: &'static str,
    },
    /// The file is damaged: a length or field that no valid capture has. Reading stops there.
    #[error(
        "{name} is damaged at byte {offset}: {detail}; reading stopped there \
         (after {frames} frames, which are analysed)"
    )]
    Corrupt {
        /// File name (or `<stdin>`).
        name: String,
        /// Byte offset of the damaged record or block.
        offset: u64,
        /// Frames returned before the damage.
        frames: u64,
        /// What is wrong, in words.
        detail: String,
    },
    /// The operating system refused to open or read the file.
    #[error("cannot read {name}: {source}")]
    Io {
        /// File name (or `<stdin>`).
        name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
