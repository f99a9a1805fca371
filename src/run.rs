//! Running an analysis over files: read every input, feed the analyzer, print each judged connection.

use std::path::Path;

use crate::analyze::{Analyzer, Options};
use crate::capture::{CaptureError, CaptureFormat, CaptureReader, LinkType};
use crate::report::{ConnReport, InputInfo, ReportSink, Summary};

/// A LINKTYPE's name.
pub fn link_name(l: LinkType) -> String {
    match l.0 {
        0 => "NULL".to_string(),
        1 => "ETHERNET".to_string(),
        9 => "PPP".to_string(),
        12 | 14 | 101 => "RAW".to_string(),
        108 => "LOOP".to_string(),
        113 => "LINUX_SLL".to_string(),
        228 => "IPV4".to_string(),
        229 => "IPV6".to_string(),
        276 => "LINUX_SLL2".to_string(),
        n => format!("LINKTYPE_{n}"),
    }
}

/// Analyse `paths` in order ("-" is stdin) and print through `sink`. Files that cannot be opened are
/// reported in the summary and skipped; the caller decides the exit status from the summary.
pub fn run(paths: &[String], opts: Options, sink: &mut dyn ReportSink) -> std::io::Result<Summary> {
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
        let mut reader = match CaptureReader::open(Path::new(path)) {
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
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => {
                    info.frames += 1;
                    info.bytes += frame.data.len() as u64;
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
        let mut links: Vec<String> = reader
            .interfaces()
            .iter()
            .map(|i| link_name(i.link))
            .collect();
        links.dedup();
        info.link_types = links;
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
