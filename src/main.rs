//! The `tlsautopsy` command line: flags, then the library does the work. Exit status: 0 when every
//! judged connection completed, 1 when at least one failed, 2 on a usage error or when nothing could
//! be analysed.
#![forbid(unsafe_code)]

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// mimalloc: a judged connection frees dozens of small allocations at once, and glibc's malloc spent
/// a third of the run in malloc/free/consolidation on connection-heavy captures (see BENCHMARKS.md).
/// Built without transparent huge pages (Cargo feature `no_thp`): the kernel spent up to a sixth of
/// a run zeroing 2 MB pages of which the allocator used little.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use tlsautopsy::analyze::Options;
use tlsautopsy::limits::LimitArgs;
use tlsautopsy::report::json::JsonLinesReport;
use tlsautopsy::report::text::TextReport;
use tlsautopsy::report::ReportSink;

/// Finds where a TLS handshake died and who killed it.
#[derive(Parser)]
#[command(name = "tlsautopsy", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse pcap/pcapng files: one verdict per TCP connection.
    Analyze(AnalyzeArgs),
    /// Capture from network interfaces and print each verdict as soon as it is known.
    #[cfg(feature = "live")]
    Live(tlsautopsy::live::LiveArgs),
    /// Write the evidence for a support case into a folder: report.html, evidence.pcapng,
    /// verdicts.jsonl, README.txt and SHA-256 sums.
    Bundle(tlsautopsy::bundle::BundleArgs),
    /// Connect to an endpoint, send real ClientHellos and explain what came back (an honest
    /// Test-NetConnection), with the probe's own packets as evidence when it may capture them.
    Probe(tlsautopsy::probe::ProbeArgs),
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,
    /// JSON lines (schema in docs/json-schema.md) instead of text.
    #[arg(long)]
    json: bool,
    /// Show healthy connections too (text output).
    #[arg(long)]
    all: bool,
    /// Do not draw ladder diagrams (text output).
    #[arg(long)]
    no_ladder: bool,
    /// Seconds without an answer after a ClientHello (or SYN) that count as silence, not "in progress".
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    quiet_time: f64,
    /// Print only the summary, no per-connection report (for very large captures).
    #[arg(long)]
    summary_only: bool,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    evidence: tlsautopsy::bundle::EvidenceArgs,
    #[command(flatten)]
    run: tlsautopsy::run::RunArgs,
}

fn analyze(a: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut opts = Options::default();
    if !(a.quiet_time.is_finite() && a.quiet_time >= 0.0) {
        anyhow::bail!("--quiet-time must be a non-negative number of seconds");
    }
    opts.verdict.quiet_ns = (a.quiet_time * 1e9) as u64;
    a.limits.apply(&mut opts);
    let mut extra = tlsautopsy::bundle::Outputs::new(&a.evidence, &a.files)?;
    let config = a.run.config(&a.files);
    let stdout = io::stdout();
    // On a terminal shared with the progress bar, standard output is written with the bar out of the way.
    let raw: Box<dyn Write> = match &config.progress {
        Some(p) if stdout.is_terminal() => Box::new(p.suspending(stdout.lock())),
        _ => Box::new(stdout.lock()),
    };
    let out = extra.wrap(BufWriter::new(raw));
    let mut sink: Box<dyn ReportSink> = if a.json {
        Box::new(JsonLinesReport::new(out))
    } else {
        Box::new(TextReport::new(out, a.all, !a.no_ladder))
    };
    if a.summary_only {
        sink = Box::new(tlsautopsy::run::SummaryOnly(sink));
    }
    let summary = match extra.run_config(&a.files, opts, sink.as_mut(), &config) {
        Ok(s) => s,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(e.into()),
    };
    drop(sink);
    for i in &summary.inputs {
        if let Some(e) = &i.error {
            eprintln!("tlsautopsy: {e}");
        }
        for w in &i.warnings {
            eprintln!("{}", tlsautopsy::run::warning_line(&i.name, w));
        }
    }
    Ok(ExitCode::from(tlsautopsy::run::exit_status(&summary)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze(a),
        #[cfg(feature = "live")]
        Command::Live(a) => tlsautopsy::live::main(a),
        Command::Bundle(b) => tlsautopsy::bundle::bundle(b).map(ExitCode::from),
        Command::Probe(p) => tlsautopsy::probe::main(p),
    };
    tlsautopsy::limits::report_peak_rss();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tlsautopsy: {e:#}");
            ExitCode::from(2)
        }
    }
}
