//! TEMPORARY stand-in until the real reader lands (same API).
#![allow(missing_docs, dead_code)]
use super::*;
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap { nanosecond: bool },
    PcapNg,
}
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    pub link: LinkType,
    pub name: Option<String>,
    pub snaplen: u32,
}
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{0}")]
    Other(String),
    #[error("truncated")]
    Truncated { frames_read: u64, offset: u64 },
}
pub struct CaptureReader {
    name: String,
}
impl CaptureReader {
    pub fn open(path: &std::path::Path) -> Result<Self, CaptureError> {
        Err(CaptureError::Other(format!("{}: not implemented", path.display())))
    }
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        Ok(None)
    }
    pub fn format(&self) -> CaptureFormat {
        CaptureFormat::PcapNg
    }
    pub fn interfaces(&self) -> &[InterfaceInfo] {
        &[]
    }
    pub fn bytes_read(&self) -> u64 {
        0
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn section_comments(&self) -> &[String] {
        &[]
    }
}
