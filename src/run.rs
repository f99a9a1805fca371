//! Running an analysis over files: read every input, feed the analyzer, print each judged connection.
//!
//! With one analysing thread: all on the calling thread ([`run_single`]), or, with a CPU to spare
//! ([`helpers_wanted`]), with two helpers ([`run_apart`]: another thread reads ahead, the calling
//! thread runs the rules and prints while a third analyses). With more: [`crate::shard`]. The
//! output is the same.

use std::collections::BTreeMap;
use std::path::Path;

use crate::analyze::{with_verdict, Analyzer, Judgment, Options};
use crate::capture::{
    read_merged, CaptureError, CaptureFormat, CaptureReader, Frame, FrameBlock, InputOrder,
    LinkType, MergeEvent, MergeSink, Open, MAX_OPEN,
};
use crate::decode::link_type_supported;
use crate::progress::{Progress, ProgressMode};
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
    fn json_only(&self) -> bool {
        // Reads nothing of a connection at all.
        true
    }
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
    fn wants_json(&self) -> bool {
        self.as_ref().wants_json()
    }
    fn json_only(&self) -> bool {
        self.as_ref().json_only()
    }
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

/// A warning about input `name` as printed on standard error: `name: warning`, unless the warning
/// already starts with the name (the reader's own errors do: "f.pcap is truncated: ...").
pub fn warning_line(name: &str, warning: &str) -> String {
    if warning.starts_with(name) {
        format!("tlsautopsy: warning: {warning}")
    } else {
        format!("tlsautopsy: warning: {name}: {warning}")
    }
}

/// The exit status for a run: 2 when nothing could be analysed (no input could be read, or none had a
/// frame on a link type we decode), else 1 when at least one connection failed, else 0.
pub fn exit_status(summary: &Summary) -> u8 {
    if summary.nothing_analysed() {
        2
    } else if summary.counts.failed > 0 {
        1
    } else {
        0
    }
}

/// How to run an analysis: threads and progress bar (`--threads`, `--progress`, `--no-progress`).
#[derive(clap::Args, Clone, Debug)]
pub struct RunArgs {
    /// Analyse with N threads, each tracking the connections of its share of the flows (the first
    /// also reads the input, once, and hands the frames to the others); 0 = one per core. The output is
    /// identical to one thread's unless --max-connections or --max-buffer-total is hit: with N
    /// threads each of these applies per thread, divided by N (a hit is counted and noted as usual).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_threads)]
    pub threads: usize,
    /// Show a progress bar on standard error whatever the input size, also when standard error is not
    /// a terminal (then as plain lines). By default it is shown on a terminal for inputs over 200 MB.
    #[arg(long, conflicts_with = "no_progress")]
    pub progress: bool,
    /// Never show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Most threads `--threads` accepts.
pub const MAX_THREADS: usize = 256;

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        Ok(_) => Err(format!("at most {MAX_THREADS} threads")),
        Err(_) => Err(format!(
            "{s:?} is not a number of threads (0 = one per core)"
        )),
    }
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            threads: 1,
            progress: false,
            no_progress: false,
        }
    }
}

impl RunArgs {
    /// When to show the progress bar.
    pub fn progress_mode(&self) -> ProgressMode {
        if self.no_progress {
            ProgressMode::Never
        } else if self.progress {
            ProgressMode::Always
        } else {
            ProgressMode::Auto
        }
    }

    /// The configuration for reading `paths` (the progress bar is created here).
    pub fn config(&self, paths: &[String]) -> RunConfig {
        RunConfig {
            threads: self.threads,
            progress: Progress::for_inputs(paths, self.progress_mode()),
        }
    }
}

/// Threads and progress bar of a run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Worker threads (0 = one per core, 1 = one thread does everything).
    pub threads: usize,
    pub progress: Option<Progress>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            threads: 1,
            progress: None,
        }
    }
}

impl RunConfig {
    /// Threads to use: `threads`, or one per core for 0.
    pub fn thread_count(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS)),
            n => n,
        }
    }
}

/// Analyse `paths` in time order ("-" is stdin; see [`read_merged`]) and print through `sink`.
/// Files that cannot be opened are reported in the summary and skipped; the caller decides the
/// exit status from the summary ([`exit_status`]).
pub fn run(paths: &[String], opts: Options, sink: &mut dyn ReportSink) -> std::io::Result<Summary> {
    run_with(paths, opts, sink, &mut |p, _| {
        CaptureReader::open(Path::new(p))
    })
}

/// [`run`] with `config`'s threads and progress bar. With more than one thread the output is the
/// same as with one (see [`crate::shard`]).
pub fn run_config(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    config: &RunConfig,
) -> std::io::Result<Summary> {
    let opts = options_for(opts, sink);
    let threads = config.thread_count();
    let progress = config.progress.as_ref();
    let result = if threads <= 1 && helpers_wanted(1) {
        run_apart(paths, opts, sink, progress)
    } else if threads <= 1 {
        let mut open = |p: &str, _| CaptureReader::open(Path::new(p));
        run_single(paths, opts, sink, &mut open, progress)
    } else {
        crate::shard::run(paths, opts, sink, threads, progress)
    };
    if let Some(p) = progress {
        p.finish();
    }
    result
}

/// [`run`], with `open` turning each name into a reader (the fuzz harness reads from memory).
pub fn run_with(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    open: &mut Open<'_>,
) -> std::io::Result<Summary> {
    run_single(paths, options_for(opts, sink), sink, open, None)
}

/// `opts` for what `sink` prints: ladder rows are labelled only when something may show them.
fn options_for(opts: Options, sink: &dyn ReportSink) -> Options {
    Options {
        ladder_labels: opts.ladder_labels && !sink.json_only(),
        ..opts
    }
}

/// One thread reads, analyses and prints.
fn run_single(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    open: &mut Open<'_>,
    progress: Option<&Progress>,
) -> std::io::Result<Summary> {
    sink.begin(paths)?;
    single_after_begin(paths, opts, sink, open, progress)
}

/// [`run_single`] once `sink` has begun.
fn single_after_begin(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    open: &mut Open<'_>,
    progress: Option<&Progress>,
) -> std::io::Result<Summary> {
    let mut analyzer = Analyzer::new(opts);
    let mut summary = Summary::default();
    let names: Vec<String> = paths.to_vec();
    let mut io_err: Option<std::io::Error> = None;
    let mut emit = |summary: &mut Summary,
                    conn: Box<crate::analyze::Connection>,
                    v: crate::verdict::Verdict| {
        summary.count(&v, conn.tcp.server);
        if io_err.is_none() {
            if let Err(e) = sink.connection(&ConnReport {
                conn: &conn,
                verdict: &v,
                files: &names,
                json_tail: None,
            }) {
                io_err = Some(e);
            }
        }
    };
    (summary.inputs, summary.input_order) =
        read_inputs(paths, open, progress, |file_idx, frame, _| {
            analyzer.frame(
                file_idx,
                frame,
                &mut with_verdict(|c, v| emit(&mut summary, c, v)),
            );
            true
        });
    let totals = analyzer.finish(&mut with_verdict(|c, v| emit(&mut summary, c, v)));
    if let Some(e) = io_err {
        return Err(e);
    }
    summary.totals = totals;
    sink.finish(&summary)?;
    Ok(summary)
}

/// Whether helper threads run beside `busy` threads of analysis: one that reads the input ahead
/// ([`CaptureReader::read_ahead`]) and, with one analysing thread, this one judging and printing
/// while another analyses ([`run_apart`]). They do when a CPU is left for them (measured on 2 CPUs: beside two
/// analysing threads, reading ahead made `--threads 2` slower, see BENCHMARKS.md). The
/// environment decides instead when it says `TLSAUTOPSY_HELPERS=0` (never: everything on one
/// thread, to measure it alone) or `=1` (always: to test them however many CPUs there are).
pub fn helpers_wanted(busy: usize) -> bool {
    match std::env::var_os("TLSAUTOPSY_HELPERS") {
        Some(v) if v == "0" => false,
        Some(v) if v == "1" => true,
        _ => std::thread::available_parallelism().is_ok_and(|n| n.get() > busy),
    }
}

/// Judged connections the analysing thread of [`run_apart`] gathers before handing them over.
/// (Standard output is buffered anyway: a few more do not delay what a pipe shows.)
const APART_CHUNK: usize = 16;
/// Chunks handed over and not yet printed.
const APART_DEPTH: usize = 4;

type Judged = (Box<crate::analyze::Connection>, Judgment);

/// One thread, analysing as [`run_single`] does, with two helpers: another thread reads the input
/// ahead, and the judged connections are given their verdicts and printed here while the analysing
/// thread goes on (the rules and the printers, a JSON line or a ladder per connection, were more
/// than a quarter of a connection-heavy run, more with `--all`). The analysing thread hands the
/// connections over with their [`Judgment`]s in chunks of [`APART_CHUNK`], in the order judged;
/// each chunk comes back to it to be freed there (where they were allocated) and reused. Output,
/// summary and errors are [`run_single`]'s; if no thread can be started, this is [`run_single`].
fn run_apart(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    progress: Option<&Progress>,
) -> std::io::Result<Summary> {
    use std::sync::mpsc::{channel, sync_channel};
    let (tx, rx) = sync_channel::<Vec<Judged>>(APART_DEPTH);
    let (back, recycled) = channel::<Vec<Judged>>();
    let analyse = move || {
        let mut analyzer = Analyzer::new(opts);
        let mut chunk: Vec<Judged> = Vec::with_capacity(APART_CHUNK);
        // False once the printing thread is gone (it failed): stop reading.
        let mut going = true;
        let hand = |c, v, chunk: &mut Vec<Judged>, going: &mut bool| {
            chunk.push((c, v));
            if chunk.len() >= APART_CHUNK {
                // A chunk printed comes back: its connections are freed here, its room reused.
                let mut next = recycled.try_recv().unwrap_or_default();
                next.clear();
                *going &= tx.send(std::mem::replace(chunk, next)).is_ok();
            }
        };
        let mut open = |p: &str, peek: bool| CaptureReader::open_ahead(Path::new(p), !peek);
        let inputs = read_inputs(paths, &mut open, progress, |file_idx, frame, _| {
            analyzer.frame(file_idx, frame, &mut |c, v| {
                hand(c, v, &mut chunk, &mut going)
            });
            going
        });
        let totals = analyzer.finish(&mut |c, v| hand(c, v, &mut chunk, &mut going));
        if !chunk.is_empty() {
            let _ = tx.send(chunk);
        }
        (inputs, totals)
    };
    let names: Vec<String> = paths.to_vec();
    sink.begin(&names)?;
    std::thread::scope(|scope| {
        let analysing = match std::thread::Builder::new()
            .name("tlsautopsy-analyse".into())
            .spawn_scoped(scope, analyse)
        {
            Ok(h) => h,
            Err(_) => {
                let mut open = |p: &str, _| CaptureReader::open(Path::new(p));
                return single_after_begin(paths, opts, sink, &mut open, progress);
            }
        };
        let mut summary = Summary::default();
        let mut io_err: Option<std::io::Error> = None;
        for chunk in rx.iter() {
            for (conn, judgment) in &chunk {
                // The rules run here too, beside the printing (the same verdict as on the
                // analysing thread: the connection does not change once judged).
                let v = judgment.verdict(conn);
                summary.count(&v, conn.tcp.server);
                if io_err.is_none() {
                    io_err = sink
                        .connection(&ConnReport {
                            conn,
                            verdict: &v,
                            files: &names,
                            json_tail: None,
                        })
                        .err();
                }
            }
            // (Once the analysing thread is done, the last ones are freed here.)
            let _ = back.send(chunk);
        }
        let (inputs, totals) = analysing.join().map_err(|p| {
            std::io::Error::other(format!(
                "the analysis thread panicked: {}",
                crate::shard::panic_message(p.as_ref())
            ))
        })?;
        if let Some(e) = io_err {
            return Err(e);
        }
        (summary.inputs, summary.input_order) = inputs;
        summary.totals = totals;
        sink.finish(&summary)?;
        Ok(summary)
    })
}

/// What was read of the inputs: each input's [`InputInfo`] (in the order given), and how the order
/// they were read in compares with it.
pub type InputsRead = (Vec<InputInfo>, InputOrder);

/// Reads every input, in time order ([`read_merged`]: as given when they follow each other, merged
/// by timestamp when they overlap), and hands each frame to `frame` with its file index and the read
/// buffer it is in (stopping early when `frame` returns false); says what was read of each input.
/// The same for one thread and for each thread of a sharded run, so both see the same frames and
/// the same warnings.
pub(crate) fn read_inputs(
    paths: &[String],
    open: &mut Open<'_>,
    progress: Option<&Progress>,
    frame: impl FnMut(u16, &Frame<'_>, FrameBlock<'_>) -> bool,
) -> InputsRead {
    let mut reading = Reading {
        inputs: paths
            .iter()
            .map(|name| InputInfo {
                name: name.clone(),
                ..InputInfo::default()
            })
            .collect(),
        unsupported: vec![BTreeMap::new(); paths.len()],
        progress,
        frame,
    };
    let order = read_merged(paths, open, &mut reading);
    (reading.inputs, order)
}

/// What [`read_inputs`] keeps while reading.
struct Reading<'p, F> {
    inputs: Vec<InputInfo>,
    /// Frames on link types not decoded, per input.
    unsupported: Vec<BTreeMap<u32, u64>>,
    progress: Option<&'p Progress>,
    frame: F,
}

impl<F: FnMut(u16, &Frame<'_>, FrameBlock<'_>) -> bool> MergeSink for Reading<'_, F> {
    #[inline(always)]
    fn frame(&mut self, file: u16, f: &Frame<'_>, block: FrameBlock<'_>) -> bool {
        if !link_type_supported(f.link) {
            if let Some(u) = self.unsupported.get_mut(usize::from(file)) {
                *u.entry(f.link.0).or_insert(0) += 1;
            }
        }
        (self.frame)(file, f, block)
    }

    fn progress(&mut self, read: u64) {
        if let Some(p) = self.progress {
            p.set(read);
        }
    }

    fn event(&mut self, event: MergeEvent<'_>, read: u64) -> bool {
        let file = usize::from(event.file());
        let (Some(info), Some(unsupported)) =
            (self.inputs.get_mut(file), self.unsupported.get_mut(file))
        else {
            return true;
        };
        match event {
            MergeEvent::Failed { error, .. } => info.error = Some(error.to_string()),
            MergeEvent::Opened { reader, .. } => {
                info.format = match reader.format() {
                    CaptureFormat::Pcap { nanosecond: true } => "pcap (ns)".to_string(),
                    CaptureFormat::Pcap { nanosecond: false } => "pcap".to_string(),
                    CaptureFormat::PcapNg => "pcapng".to_string(),
                };
            }
            MergeEvent::Error { error, .. } => info.warnings.push(match error {
                // The message says that the frames before the cut are analysed.
                e @ CaptureError::Truncated { .. } => e.to_string(),
                e => format!("{e}; analysis stopped reading this file there"),
            }),
            MergeEvent::Late { .. } => info.warnings.push(format!(
                "it overlaps in time more than {MAX_OPEN} other inputs read at once: it was opened \
                 only when one of them ended, so its first packets were analysed after later ones \
                 of theirs (merge the files with mergecap first, or analyse fewer at once)"
            )),
            MergeEvent::Ended { reader, .. } => {
                if let Some(p) = self.progress {
                    p.set(read);
                }
                info.frames = reader.stats().frames;
                info.bytes = reader.stats().bytes;
                ended(info, reader, std::mem::take(unsupported));
            }
        }
        true
    }
}

/// What is said of an input once read: its link types, and warnings when it held no packets or
/// packets on link types not decoded.
fn ended(info: &mut InputInfo, reader: &CaptureReader, unsupported: BTreeMap<u32, u64>) {
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
}
