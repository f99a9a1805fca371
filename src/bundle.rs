//! Evidence for a support case: the `--report`, `--evidence` and `--anonymize` options of `analyze`,
//! and the `bundle` command that writes all of it into one folder (report.html, verdicts.jsonl,
//! evidence.pcapng, README.txt, inputs.sha256, SHA256SUMS).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sha2::{Digest, Sha256};

use crate::analyze::Options;
use crate::report::anonymize::{AnonWriter, Anonymizer};
use crate::report::evidence::{EvidenceCollector, EvidenceOptions, EvidencePlan, EvidenceStats};
use crate::report::html::HtmlReport;
use crate::report::json::JsonLinesReport;
use crate::report::tee::Tee;
use crate::report::{ReportSink, Summary};
use crate::run::RunConfig;

/// The environment variable that may hold the anonymization key (kept out of shell history and
/// process lists).
pub const KEY_ENV: &str = "TLSAUTOPSY_ANONYMIZE_KEY";

/// Evidence options of `analyze`.
#[derive(Args, Clone, Debug, Default)]
pub struct EvidenceArgs {
    /// Also write a self-contained HTML report (opens offline in any browser).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Also write the packets of the failed connections as pcapng, redacted, with comments on the
    /// packets that prove each verdict.
    #[arg(long, value_name = "FILE.pcapng")]
    pub evidence: Option<PathBuf>,
    /// Put every connection in the evidence, not only the failed ones.
    #[arg(long, requires = "evidence")]
    pub evidence_all: bool,
    /// Keep all payload in the evidence (default: application data, HTTP bodies and non-TLS payload are cut).
    #[arg(long, requires = "evidence")]
    pub no_redact: bool,
    /// Replace IP addresses in every output (text, JSON, report, evidence) by a keyed,
    /// prefix-preserving map (docs/anonymization.md).
    #[arg(long)]
    pub anonymize: bool,
    /// Key of the address map (implies --anonymize; also read from TLSAUTOPSY_ANONYMIZE_KEY): the same
    /// key gives the same map. Without one, a random key is used for the run.
    #[arg(long, value_name = "KEY")]
    pub anonymize_key: Option<String>,
}

/// `tlsautopsy bundle`.
#[derive(Args, Clone, Debug)]
pub struct BundleArgs {
    /// Capture files (pcap or pcapng). Standard input cannot be bundled (it is read three times).
    #[arg(required = true, value_name = "CAPTURE")]
    pub files: Vec<String>,
    /// The folder to write (created if needed; files of the same names are replaced).
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
    /// Put every connection in evidence.pcapng, not only the failed ones.
    #[arg(long)]
    pub evidence_all: bool,
    /// Keep all payload in evidence.pcapng.
    #[arg(long)]
    pub no_redact: bool,
    /// Replace IP addresses everywhere in the bundle (keyed, prefix-preserving).
    #[arg(long)]
    pub anonymize: bool,
    /// Key of the address map (implies --anonymize; also read from TLSAUTOPSY_ANONYMIZE_KEY).
    #[arg(long, value_name = "KEY")]
    pub anonymize_key: Option<String>,
    /// Seconds without an answer after a ClientHello (or SYN) that count as silence.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub quiet_time: f64,
    /// Connections tracked at once before the least recently active are judged early.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_connections: usize,
    #[command(flatten)]
    pub run: crate::run::RunArgs,
}

/// The anonymizer the flags ask for (`--anonymize`, `--anonymize-key`, the environment), if any.
pub fn anonymizer(anonymize: bool, key: Option<&str>) -> Option<Arc<Anonymizer>> {
    let env_key = std::env::var(KEY_ENV).ok().filter(|k| !k.is_empty());
    let key = key
        .map(str::to_string)
        .or(if anonymize { env_key } else { None });
    if key.is_none() && !anonymize {
        return None;
    }
    let a = Anonymizer::new(key.as_deref().map(str::as_bytes));
    if a.random_key {
        eprintln!(
            "tlsautopsy: note: addresses are anonymized with a random key; pass --anonymize-key (or set {KEY_ENV}) to get the same map in another run"
        );
    }
    Some(Arc::new(a))
}

/// The command line as run, with the anonymization key hidden.
pub fn command_line() -> String {
    let mut out = Vec::new();
    let mut hide_next = false;
    for a in std::env::args() {
        if hide_next {
            out.push("<key hidden>".to_string());
            hide_next = false;
            continue;
        }
        if a == "--anonymize-key" {
            hide_next = true;
            out.push(a);
        } else if a.starts_with("--anonymize-key=") {
            out.push("--anonymize-key=<key hidden>".to_string());
        } else if a.is_empty()
            || a.contains(|c: char| c.is_whitespace() || "'\"$`\\;&|<>*?()".contains(c))
        {
            out.push(format!("'{}'", a.replace('\'', "'\\''")));
        } else {
            out.push(a);
        }
    }
    if let Some(first) = out.first_mut() {
        if let Some(name) = Path::new(first.as_str()).file_name() {
            *first = name.to_string_lossy().to_string();
        }
    }
    out.join(" ")
}

/// SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Inputs with their hashes (`None` for standard input or an unreadable file).
fn input_hashes(files: &[String]) -> Vec<(String, Option<String>)> {
    files
        .iter()
        .map(|f| {
            let h = (f != "-").then(|| sha256_file(Path::new(f)).ok()).flatten();
            (f.clone(), h)
        })
        .collect()
}

/// What redaction keeps and cuts, as the evidence file's section comment says it.
pub const REDACTION_TEXT: &str = "Redaction: TLS handshake records, alerts and every TLS record header are kept; the bodies of application-data records (in TLS 1.3 also the encrypted handshake), HTTP bodies and payload that is neither TLS nor HTTP headers are cut. A packet whose cut bytes end it is stored shorter than it was (its original length is kept: Wireshark shows it as cut by the capture); cut bytes before kept ones are overwritten with zeros and the TCP checksum adjusted.";

/// Connections listed in the evidence file's section comment at most (an option holds 64 KiB).
const SECTION_CONNECTIONS: usize = 200;

/// The comments of the evidence file's section.
fn section_comments(
    c: &EvidenceCollector,
    plan: &EvidencePlan,
    hashes: &[(String, Option<String>)],
) -> Vec<String> {
    let o = c.options();
    let mut s = format!(
        "Evidence written by tlsautopsy {}: {} packets of {} connection(s) ({} of {} judged).\nCommand: {}\nInputs:\n",
        env!("CARGO_PKG_VERSION"),
        plan.packets(),
        c.selected().len(),
        if o.all {
            "all"
        } else {
            "the failed ones and those the path reset after their handshake"
        },
        c.judged(),
        command_line()
    );
    for (f, h) in hashes {
        s.push_str(&format!(
            "  {f}  sha256:{}\n",
            h.as_deref().unwrap_or("(not hashed)")
        ));
    }
    s.push_str("Connections:\n");
    for (i, sel) in c.selected().iter().enumerate().take(SECTION_CONNECTIONS) {
        s.push_str(&format!(
            "  {}: {} packets\n",
            sel.line(),
            plan.packets_of(i)
        ));
    }
    if c.selected().len() > SECTION_CONNECTIONS {
        s.push_str(&format!(
            "  ... and {} more (see the packet comments, the report or the JSON)\n",
            c.selected().len() - SECTION_CONNECTIONS
        ));
    }
    if o.no_redact {
        s.push_str("Redaction: none (--no-redact): payload as captured.\n");
    } else {
        s.push_str(REDACTION_TEXT);
        s.push('\n');
    }
    match &o.anonymizer {
        Some(_) => s.push_str("Addresses: anonymized (IP: keyed, prefix-preserving, in IP headers and ICMP quotes, checksums adjusted; MAC: keyed pseudo-random). They are not the real addresses.\n"),
        None => s.push_str("Addresses: as captured.\n"),
    }
    s.push_str("The packets a verdict cites carry a packet comment (display filter: frame.comment contains \"tlsautopsy\"); frame numbers differ from the inputs', each comment names the input frame.");
    vec![s]
}

/// Write the evidence file of `c` to `path`.
fn write_evidence(
    c: &EvidenceCollector,
    files: &[String],
    path: &Path,
    hashes: &[(String, Option<String>)],
) -> io::Result<(EvidencePlan, EvidenceStats)> {
    let plan = c.plan(files)?;
    let comments = section_comments(c, &plan, hashes);
    let out = BufWriter::new(File::create(path)?);
    let stats = plan.write(c, files, &comments, out)?;
    Ok((plan, stats))
}

/// The extra outputs of `analyze` (`--report`, `--evidence`, `--anonymize`).
pub struct Outputs {
    anon: Option<Arc<Anonymizer>>,
    html: Option<HtmlReport<BufWriter<File>>>,
    evidence: Option<(EvidenceCollector, PathBuf)>,
}

impl Outputs {
    /// Check the options and create the output files (before any analysis, so a bad path fails early).
    pub fn new(args: &EvidenceArgs, files: &[String]) -> anyhow::Result<Self> {
        if args.evidence.is_some() && files.iter().any(|f| f == "-") {
            anyhow::bail!(
                "--evidence reads the inputs again, and standard input cannot be read twice: save it to a file first"
            );
        }
        let anon = anonymizer(args.anonymize, args.anonymize_key.as_deref());
        let html = match &args.report {
            Some(p) => {
                let f = File::create(p).with_context(|| format!("--report {}", p.display()))?;
                Some(HtmlReport::new(BufWriter::new(f), anon.clone()))
            }
            None => None,
        };
        let evidence = match &args.evidence {
            Some(p) => {
                File::create(p).with_context(|| format!("--evidence {}", p.display()))?;
                let c = EvidenceCollector::new(EvidenceOptions {
                    all: args.evidence_all,
                    no_redact: args.no_redact,
                    anonymizer: anon.clone(),
                });
                Some((c, p.clone()))
            }
            None => None,
        };
        Ok(Outputs {
            anon,
            html,
            evidence,
        })
    }

    /// `out`, anonymized when asked.
    pub fn wrap<'a, W: Write + 'a>(&self, out: W) -> Box<dyn Write + 'a> {
        match &self.anon {
            Some(a) => Box::new(AnonWriter::new(out, a.clone())),
            None => Box::new(out),
        }
    }

    /// Run the analysis through `sink` and the extra outputs, then write the evidence file.
    pub fn run(
        &mut self,
        files: &[String],
        opts: Options,
        sink: &mut dyn ReportSink,
    ) -> io::Result<Summary> {
        self.run_config(files, opts, sink, &RunConfig::default())
    }

    /// [`Outputs::run`] with `config`'s threads and progress bar.
    pub fn run_config(
        &mut self,
        files: &[String],
        opts: Options,
        sink: &mut dyn ReportSink,
        config: &RunConfig,
    ) -> io::Result<Summary> {
        let res = {
            let mut sinks: Vec<&mut dyn ReportSink> = vec![sink];
            if let Some(h) = &mut self.html {
                sinks.push(h);
            }
            if let Some((c, _)) = &mut self.evidence {
                sinks.push(c);
            }
            let mut tee = Tee::new(sinks);
            crate::run::run_config(files, opts, &mut tee, config)
        };
        let go_on = match &res {
            Ok(_) => true,
            Err(e) => e.kind() == io::ErrorKind::BrokenPipe,
        };
        if let (true, Some((c, path))) = (go_on, &self.evidence) {
            let hashes = input_hashes(files);
            let (_, stats) = write_evidence(c, files, path, &hashes).map_err(|e| {
                io::Error::new(e.kind(), format!("--evidence {}: {e}", path.display()))
            })?;
            eprintln!(
                "tlsautopsy: evidence: {} packets of {} connection(s) written to {}",
                stats.packets,
                stats.connections,
                path.display()
            );
        }
        res
    }
}

fn create(path: &Path) -> anyhow::Result<BufWriter<File>> {
    Ok(BufWriter::new(File::create(path).with_context(|| {
        format!("cannot write {}", path.display())
    })?))
}

/// `tlsautopsy bundle`: returns the process exit status (0 when the bundle was written).
pub fn bundle(a: BundleArgs) -> anyhow::Result<u8> {
    if a.files.iter().any(|f| f == "-") {
        anyhow::bail!(
            "bundle reads the captures three times, and standard input cannot be: save it to a file first"
        );
    }
    if !(a.quiet_time.is_finite() && a.quiet_time >= 0.0) {
        anyhow::bail!("--quiet-time must be a non-negative number of seconds");
    }
    let mut opts = Options::default();
    opts.verdict.quiet_ns = (a.quiet_time * 1e9) as u64;
    opts.max_connections = a.max_connections.max(1);
    let dir = &a.output;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let anon = anonymizer(a.anonymize, a.anonymize_key.as_deref());
    let anon_text = |s: &str| match &anon {
        Some(x) => x.text(s).into_owned(),
        None => s.to_string(),
    };

    let mut html = HtmlReport::new(create(&dir.join("report.html"))?, anon.clone());
    html.set_context(vec![format!(
        "This report is part of a bundle: evidence.pcapng holds the packets of {} ({}), verdicts.jsonl the verdicts as JSON lines, README.txt explains it all and SHA256SUMS lets you check the files.",
        if a.evidence_all {
            "every connection"
        } else {
            "the failed connections and those the path reset after their handshake"
        },
        if a.no_redact { "not redacted" } else { "application data cut" }
    )]);
    let json_out: Box<dyn Write> = match &anon {
        Some(x) => Box::new(AnonWriter::new(
            create(&dir.join("verdicts.jsonl"))?,
            x.clone(),
        )),
        None => Box::new(create(&dir.join("verdicts.jsonl"))?),
    };
    let mut json = JsonLinesReport::new(json_out);
    let mut collector = EvidenceCollector::new(EvidenceOptions {
        all: a.evidence_all,
        no_redact: a.no_redact,
        anonymizer: anon.clone(),
    });
    let summary = {
        let mut tee = Tee::new(vec![&mut json, &mut html, &mut collector]);
        crate::run::run_config(&a.files, opts, &mut tee, &a.run.config(&a.files))?
    };
    drop(json);
    drop(html);
    let readable = summary.inputs.iter().filter(|i| i.error.is_none()).count();
    for i in &summary.inputs {
        if let Some(e) = &i.error {
            eprintln!("tlsautopsy: {e}");
        }
        for w in &i.warnings {
            eprintln!("{}", crate::run::warning_line(&i.name, w));
        }
    }
    if readable == 0 {
        anyhow::bail!("no input could be read: no bundle written");
    }
    let hashes = input_hashes(&a.files);
    let (plan, stats) = write_evidence(&collector, &a.files, &dir.join("evidence.pcapng"), &hashes)
        .context("evidence.pcapng")?;

    // inputs.sha256: the captures as given (sha256sum -c works from where they were read).
    let mut inputs = String::new();
    for (f, h) in &hashes {
        if let Some(h) = h {
            inputs.push_str(&format!("{h}  {f}\n"));
        }
    }
    std::fs::write(dir.join("inputs.sha256"), anon_text(&inputs))?;

    let readme = readme(&a, &summary, &collector, &plan, &stats, &hashes);
    std::fs::write(dir.join("README.txt"), anon_text(&readme))?;

    let mut sums = String::new();
    for name in [
        "README.txt",
        "report.html",
        "verdicts.jsonl",
        "evidence.pcapng",
        "inputs.sha256",
    ] {
        sums.push_str(&format!("{}  {name}\n", sha256_file(&dir.join(name))?));
    }
    std::fs::write(dir.join("SHA256SUMS"), sums)?;

    let mut out = io::stdout().lock();
    let msg = format!(
        "Bundle written to {}:\n  report.html      open in a browser (self-contained, works offline)\n  evidence.pcapng  {} packets of {} connection(s), open in Wireshark\n  verdicts.jsonl   one JSON line per connection (docs/json-schema.md)\n  README.txt       for the recipient\n  SHA256SUMS       sums of the files above and of inputs.sha256 (the captures' sums)\n{} TCP connections: {} failed, {} ok, {} undetermined.\n",
        dir.display(),
        stats.packets,
        stats.connections,
        summary.totals.connections,
        summary.counts.failed,
        summary.counts.ok,
        summary.counts.undetermined
    );
    let _ = out.write_all(anon_text(&msg).as_bytes());
    Ok(0)
}

fn readme(
    a: &BundleArgs,
    s: &Summary,
    c: &EvidenceCollector,
    plan: &EvidencePlan,
    stats: &EvidenceStats,
    hashes: &[(String, Option<String>)],
) -> String {
    let mut r = String::new();
    r.push_str("TLS handshake evidence\n======================\n\n");
    r.push_str(&format!(
        "Made by tlsautopsy {} from packet captures. Each TCP connection in them got one verdict:\nwhere its TLS handshake died, who ended it, and the packets that prove it.\n\n",
        env!("CARGO_PKG_VERSION")
    ));
    r.push_str(&format!(
        "{} TCP connections: {} failed, {} ok, {} undetermined.\n",
        s.totals.connections, s.counts.failed, s.counts.ok, s.counts.undetermined
    ));
    // The connections listed: the failed ones, and (without --evidence-all) those the path reset
    // after their handshake, each list cut at SECTION_CONNECTIONS.
    let mut lists = vec![("Failed connections", true)];
    if !c.options().all {
        lists.push((
            "Completed handshakes the path reset afterwards (after_handshake in verdicts.jsonl)",
            false,
        ));
    }
    for (title, failed) in lists {
        let conns: Vec<_> = c.selected().iter().filter(|x| x.failed == failed).collect();
        if conns.is_empty() {
            continue;
        }
        r.push_str(&format!("\n{title}:\n"));
        for f in conns.iter().take(SECTION_CONNECTIONS) {
            r.push_str(&format!("  {}\n", f.line()));
        }
        if conns.len() > SECTION_CONNECTIONS {
            r.push_str(&format!(
                "  ... and {} more: see report.html\n",
                conns.len() - SECTION_CONNECTIONS
            ));
        }
    }
    r.push_str("\nFiles\n-----\n");
    r.push_str("report.html      The report: open it in any web browser. It needs no network and runs no\n                 code from anywhere else. It has the capture facts, a chart of the outcomes,\n                 a table of all connections (click a column to sort, type to filter) and, for\n                 each failed connection (and each the path reset after its handshake), the\n                 verdict, the explanation, the evidence packets, a Wireshark display filter\n                 and a ladder diagram of its packets.\n");
    r.push_str(&format!(
        "evidence.pcapng  {} packets: those of {} ({} connection(s)), in their original order with\n                 their original timestamps. Open it in Wireshark. The packets that prove a\n                 verdict carry a packet comment: display filter  frame.comment contains \"tlsautopsy\"\n                 (Statistics > Capture File Properties shows the file's own comment). Frame\n                 numbers differ from the original captures; each comment names the original frame.\n",
        stats.packets,
        if c.options().all {
            "every connection"
        } else {
            "the failed connections and those the path reset after their handshake"
        },
        stats.connections
    ));
    r.push_str("verdicts.jsonl   One JSON object per connection, then a summary line (the schema is\n                 docs/json-schema.md in tlsautopsy's sources).\n");
    r.push_str("inputs.sha256    SHA-256 of each original capture, as named when the bundle was made.\nSHA256SUMS       SHA-256 of every file of this folder: run  sha256sum -c SHA256SUMS  in it.\n");
    r.push_str("\nWhat was left out\n-----------------\n");
    if a.no_redact {
        r.push_str("Nothing: the evidence holds the packets as captured (--no-redact).\n");
    } else {
        r.push_str(REDACTION_TEXT);
        r.push_str("\nThe TLS handshake (ClientHello with its server name, ServerHello, alerts, TLS 1.2\ncertificates), the TCP and IP headers and the HTTP status lines and headers are kept: they\nare the evidence. No application data is in this folder.\n");
    }
    if plan.frames_read > 0 {
        r.push_str(&format!(
            "Packets of other connections and other traffic ({} frames read in all) are not included.\n",
            plan.frames_read
        ));
    }
    match &c.options().anonymizer {
        Some(_) => r.push_str("IP addresses are anonymized everywhere in this folder (report, JSON, pcapng headers and\nICMP quotes; addresses written in kept payload text are masked with x): a keyed, prefix-preserving map (addresses in one subnet stay in one subnet).\nThey are not the real addresses; whoever made the bundle holds the key. Ports, host names\n(SNI) and MAC addresses are not changed.\n"),
        None => r.push_str("IP addresses are as captured.\n"),
    }
    r.push_str("\nHow it was made\n---------------\n");
    r.push_str(&format!("Command: {}\nInputs:\n", command_line()));
    for (f, h) in hashes {
        r.push_str(&format!(
            "  {f}  sha256:{}\n",
            h.as_deref().unwrap_or("(not hashed)")
        ));
    }
    r
}
