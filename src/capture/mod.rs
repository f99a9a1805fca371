//! Capture files: pcap (µs and ns, both byte orders) and pcapng (several sections and interfaces).
//!
//! The reader yields [`Frame`]s borrowed from its buffer. Frame numbers are 1-based per file, in file order,
//! exactly as Wireshark numbers them. This module imports nothing else from the crate.
//!
//! Several files are read as one capture in time order ([`read_merged`]), as `mergecap` does.
//!
//! The bytes are read in place or by another thread ahead of the reader
//! ([`CaptureReader::read_ahead`], [`CaptureReader::open_ahead`]): the same frames, offsets and
//! errors either way.
//!
//! Wire data is untrusted: nothing here may panic or allocate without bound whatever the input.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)]

mod error;
mod input;
mod merge;
mod reader;
mod sniff;
#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) mod testutil;

pub use error::{CaptureError, ForeignFormat};
pub use merge::{read_merged, InputOrder, MergeEvent, MergeSink, Open, MAX_OPEN};
pub use reader::{
    block_type_name, CaptureFormat, CaptureReader, CaptureStats, FrameBlock, InterfaceInfo,
    MAX_INTERFACES, MAX_PCAPNG_BLOCK_LEN, MAX_PCAP_CAPLEN,
};

/// Nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Seconds since the epoch as a float, for display.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// `self - earlier` in nanoseconds, saturating at 0.
    pub fn since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// A LINKTYPE_ value as written in the file (not libpcap's DLT_ value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW_DLT12: LinkType = LinkType(12);
    pub const RAW_DLT14: LinkType = LinkType(14);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

/// One captured packet, borrowed from the reader.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based frame number within its file, as Wireshark shows it.
    pub number: u64,
    /// Capture timestamp.
    pub ts: Timestamp,
    /// Link type of the interface this frame was captured on.
    pub link: LinkType,
    /// pcapng interface id (0 for pcap).
    pub interface: u32,
    /// Bytes on the wire (may exceed `data.len()` when the capture cut the packet).
    pub origlen: u32,
    /// Captured bytes.
    pub data: &'a [u8],
}
