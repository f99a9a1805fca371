//! The probe's own packets, captured with libpcap while it runs (feature `live`): every packet
//! between the probe and the target (and the ICMP errors that may answer them), kept in memory,
//! bounded, and then analysed exactly as a capture file is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use pcap::{Active, Capture};

use crate::capture::{LinkType, Timestamp};
use crate::live::{is_permission_error, link_from_dlt};

/// Packets kept at most (a probe sends a few dozen).
pub const MAX_PACKETS: usize = 20_000;
/// Bytes kept at most.
const MAX_BYTES: usize = 32 << 20;
/// Bytes kept of each packet.
const SNAPLEN: i32 = 65_535;

/// One captured packet.
pub struct Packet {
    pub ts: Timestamp,
    pub origlen: u32,
    pub data: Vec<u8>,
}

/// What the capture got.
pub struct Captured {
    pub interface: String,
    pub link: LinkType,
    pub packets: Vec<Packet>,
    /// Packets libpcap says the kernel or the interface dropped.
    pub dropped: u64,
    /// Packets not kept because the bounds were reached.
    pub not_kept: u64,
    /// The capture stopped on an error.
    pub error: Option<String>,
}

/// A running capture; [`Capturer::stop`] ends it.
pub struct Capturer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Captured>,
}

/// Why the capture could not start, with what to do when it is a matter of permission.
fn open_error(interface: &str, e: &pcap::Error) -> String {
    let hint = if is_permission_error(e) {
        " (capturing needs root or the CAP_NET_RAW capability: sudo setcap cap_net_raw+eip on the binary)"
    } else {
        ""
    };
    format!("cannot capture on {interface}: {e}{hint}")
}

/// Starts capturing on `interface` with the libpcap `filter`. The capture is active when this
/// returns, so every packet the probe sends afterwards is seen.
pub fn start(interface: &str, filter: &str) -> Result<Capturer, String> {
    let cap = Capture::from_device(interface)
        .map_err(|e| format!("{interface}: {e}"))?
        .immediate_mode(true)
        .snaplen(SNAPLEN)
        .buffer_size(8 << 20)
        .timeout(20);
    #[cfg(target_os = "linux")]
    let (cap, nano) = (cap.precision(pcap::Precision::Nano), true);
    #[cfg(not(target_os = "linux"))]
    let nano = false;
    // Non-blocking: in immediate mode libpcap's read on Linux waits for a packet whatever the
    // timeout, so the thread polls and sleeps a little between empty reads (the timestamps come
    // from the kernel, not from when the packets are read).
    let mut cap = cap
        .open()
        .map_err(|e| open_error(interface, &e))?
        .setnonblock()
        .map_err(|e| format!("{interface}: cannot set non-blocking mode: {e}"))?;
    cap.filter(filter, true)
        .map_err(|e| format!("capture filter {filter:?}: {e}"))?;
    let link = link_from_dlt(cap.get_datalink().0);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let name = interface.to_string();
    let thread = std::thread::Builder::new()
        .name("probe-capture".into())
        .spawn(move || collect(cap, &flag, name, link, nano))
        .map_err(|e| format!("cannot start the capture thread: {e}"))?;
    Ok(Capturer { stop, thread })
}

impl Capturer {
    /// Stops the capture (within a few milliseconds) and hands over what it got.
    pub fn stop(self) -> Captured {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().unwrap_or_else(|_| Captured {
            interface: String::new(),
            link: LinkType(u32::MAX),
            packets: Vec::new(),
            dropped: 0,
            not_kept: 0,
            error: Some("the capture thread panicked".to_string()),
        })
    }
}

fn collect(
    mut cap: Capture<Active>,
    stop: &AtomicBool,
    interface: String,
    link: LinkType,
    nano: bool,
) -> Captured {
    let mut out = Captured {
        interface,
        link,
        packets: Vec::new(),
        dropped: 0,
        not_kept: 0,
        error: None,
    };
    let mut bytes = 0usize;
    // Keep reading until asked to stop, and then until the kernel's buffer is empty.
    let mut draining = false;
    loop {
        if !draining && stop.load(Ordering::SeqCst) {
            draining = true;
        }
        match cap.next_packet() {
            Ok(p) => {
                if out.packets.len() >= MAX_PACKETS || bytes + p.data.len() > MAX_BYTES {
                    out.not_kept += 1;
                    continue;
                }
                let sec = u64::try_from(p.header.ts.tv_sec).unwrap_or(0);
                let frac = u64::try_from(p.header.ts.tv_usec).unwrap_or(0);
                let ns = if nano {
                    frac
                } else {
                    frac.saturating_mul(1_000)
                };
                bytes += p.data.len();
                out.packets.push(Packet {
                    ts: Timestamp(sec.saturating_mul(1_000_000_000).saturating_add(ns)),
                    origlen: p.header.len,
                    data: p.data.to_vec(),
                });
            }
            Err(pcap::Error::TimeoutExpired) => {
                if draining {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                out.error = Some(e.to_string());
                break;
            }
        }
    }
    if let Ok(s) = cap.stats() {
        out.dropped = u64::from(s.dropped) + u64::from(s.if_dropped);
    }
    out
}
