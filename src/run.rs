//! Running an analysis over files: read every input, feed the analyzer, print each judged connection.

use std::collections::BTreeMap;
use std::path::Path;

use crate::analyze::{Analyzer, Options};
use crate::capture::{CaptureError, CaptureFormat, CaptureReader, LinkType};
use crate::decode::link_type_supported;
use crate::report::{ConnReport, InputInfo, ReportSink, Summary};

/// A LINKTYPE's name.
pub fn link_name(l: LinkType) -> String {
    let name = match l.0 {
        0 => "NULL",
        1 => "ETHERNET",
        6 => "IEEE802_5 (Token Ring)",
        9 => "PPP",
        10 => "FDDI",
        12 | 14 | 101 => "RAW",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        104 => "C_HDLC",
        105 => "IEEE802_11 (Wi-Fi)",
        108 => "LOOP",
        113 => "LINUX_SLL",
        119 => "IEEE802_11_PRISM (Wi-Fi)",
        127 => "IEEE802_11_RADIOTAP (Wi-Fi)",
        147..=162 => return format!("USER{} (private use)", l.0 - 147),
        163 => "IEEE802_11_AVS (Wi-Fi)",
        189 => "USB_LINUX",
        192 => "PPI",
        195 => "IEEE802_15_4",
        201 => "BLUETOOTH_HCI_H4_WITH_PHDR",
        204 => "PPP_WITH_DIR",
        220 => "USB_LINUX_MMAPPED",
        228 => "IPV4",
        229 => "IPV6",
        249 => "USBPCAP",
        253 => "NETLINK",
        254 => "BLUETOOTH_LINUX_MONITOR",
        258 => "PKTAP (Apple)",
        276 => "LINUX_SLL2",
        n => return format!("LINKTYPE_{n}"),
    };
    name.to_string()
}

/// A printer that passes on only the summary.
pub struct SummaryOnly<S: ReportSink>(pub S);

impl<S: ReportSink> ReportSink for SummaryOnly<S> {
    fn begin(&mut self, inputs: &[String]) -> std::io::Result<()> {
        self.0.begin(inputs)
    }
    fn connection(&mut self, _c: &ConnReport<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self, s: &Summary) -> std::io::Result<()> {
        self.0.finish(s)
    }
}

impl ReportSink for Box<dyn ReportSink> {
    fn begin(&mut self, inputs: &[String]) -> std::io::Result<()> {
        self.as_mut().begin(inputs)
    }
    fn connection(&mut self, c: &ConnReport<'_>) -> std::io::Result<()> {
        self.as_mut().connection(c)
    }
    fn finish(&mut self, s: &Summary) -> std::io::Result<()> {
        self.as_mut().finish(s)
    }
}

/// The exit status for a run: 2 when nothing could be analysed (no input could be read, or none had a
/// frame on a link type we decode), else 1 when at least one connection failed, else 0.
pub fn exit_status(summary: &Summary) -> u8 {
    if summary.nothing_analysed() {
        2
    } else if summary.failed > 0 {
        1
    } else {
        0
    }
}

/// Analyse `paths` in order ("-" is stdin) and print through `sink`. Files that cannot be opened are
/// reported in the summary and skipped; the caller decides the exit status from the summary
/// ([`exit_status`]).
pub fn run(paths: &[String], opts: Options, sink: &mut dyn ReportSink) -> std::io::Result<Summary> {
    run_with(paths, opts, sink, &mut |p| {
        CaptureReader::open(Path::new(p))
    })
}

/// [`run`], with `open` turning each name into a reader (the fuzz harness reads from memory).
pub fn run_with(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    open: &mut dyn FnMut(&str) -> Result<CaptureReader, CaptureError>,
) -> std::io::Result<Summary> {
    let mut analyzer = Analyzer::new(opts);
    let mut summary = Summary::default();
    let names: Vec<String> = paths.to_vec();
    sink.begin(&names)?;
    let mut io_err: Option<std::io::Error> = None;
    let mut emit =
        |summary: &mut Summary, conn: crate::analyze::Connection, v: crate::verdict::Verdict| {
            summary.count(&v);
            if io_err.is_none() {
                if let Err(e) = sink.connection(&ConnReport {
                    conn: &conn,
                    verdict: &v,
                    files: &names,
                }) {
                    io_err = Some(e);
                }
            }
        };
    for (idx, path) in paths.iter().enumerate() {
        let mut info = InputInfo {
            name: path.clone(),
            ..InputInfo::default()
        };
        let mut reader = match open(path) {
            Ok(r) => r,
            Err(e) => {
                info.error = Some(e.to_string());
                summary.inputs.push(info);
                continue;
            }
        };
        info.format = match reader.format() {
            CaptureFormat::Pcap { nanosecond: true } => "pcap (ns)".to_string(),
            CaptureFormat::Pcap { nanosecond: false } => "pcap".to_string(),
            CaptureFormat::PcapNg => "pcapng".to_string(),
        };
        let file_idx = u16::try_from(idx).unwrap_or(u16::MAX);
        let mut unsupported: BTreeMap<u32, u64> = BTreeMap::new();
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    info.frames += 1;
                    info.bytes += frame.data.len() as u64;
                    if !link_type_supported(frame.link) {
                        *unsupported.entry(frame.link.0).or_insert(0) += 1;
                    }
                    analyzer.frame(file_idx, &frame, &mut |c, v| emit(&mut summary, c, v));
                }
                Ok(None) => break,
                Err(e @ CaptureError::Truncated { .. }) => {
                    info.warnings
                        .push(format!("{e}; the frames before it were analysed"));
                }
                Err(e) => {
                    info.warnings
                        .push(format!("{e}; analysis stopped reading this file there"));
                    break;
                }
            }
        }
        let mut links: Vec<String> = Vec::new();
        for i in reader.interfaces() {
            let name = link_name(i.link);
            if !links.contains(&name) && links.len() < 16 {
                links.push(name);
            }
        }
        info.link_types = links;
        if info.frames == 0 {
            info.warnings.push(match reader.format() {
                CaptureFormat::PcapNg => {
                    "it holds no packets (only pcapng header blocks): there is nothing to analyse"
                        .to_string()
                }
                CaptureFormat::Pcap { .. } => {
                    "it holds no packets (only the pcap file header): there is nothing to analyse"
                        .to_string()
                }
            });
        }
        let unsupported_total: u64 = unsupported.values().sum();
        // One warning per link type, for the few a file can sensibly have; a crafted file with
        // thousands gets one line for the rest.
        const LINK_WARNINGS: usize = 8;
        for (link, n) in unsupported.iter().take(LINK_WARNINGS) {
            info.warnings.push(format!(
                "{n} of its {} frames are on link type {} ({link}), which tlsautopsy does not decode \
                 (it decodes Ethernet, Linux cooked SLL/SLL2, raw IPv4/IPv6, BSD NULL/LOOP, PPP and Apple PKTAP): \
                 they were skipped{}",
                info.frames,
                link_name(LinkType(*link)),
                if unsupported_total == info.frames {
                    ", so nothing in this file could be analysed"
                } else {
                    ""
                }
            ));
        }
        if unsupported.len() > LINK_WARNINGS {
            let rest: u64 = unsupported.values().skip(LINK_WARNINGS).sum();
            info.warnings.push(format!(
                "{rest} more frames are on {} other link types that tlsautopsy does not decode: they were skipped",
                unsupported.len() - LINK_WARNINGS
            ));
        }
        summary.inputs.push(info);
    }
    let totals = analyzer.finish(&mut |c, v| emit(&mut summary, c, v));
    if let Some(e) = io_err {
        return Err(e);
    }
    summary.totals = totals;
    sink.finish(&summary)?;
    Ok(summary)
}
