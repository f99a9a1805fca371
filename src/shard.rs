//! `--threads N`: flow-sharded analysis whose output is identical, byte for byte and in the same
//! order, to one thread's.
//!
//! # How
//! Every worker thread opens its own readers over the same input files and reads and decodes every
//! frame, so all the global bookkeeping (frame counts, the clock, when sweeps happen, skipped frames,
//! IP fragment reassembly) is exactly one thread's. Each tracks only the connections whose flow key
//! hashes to its shard ([`ShardFilter`]: a fixed, symmetric hash of the canonical flow key; ICMP
//! errors go by the flow they quote).
//!
//! Workers send batches in lockstep: each after the same frames (every [`BATCH_FRAMES`] frames and
//! after every sweep, which happen at the same frames everywhere), holding what happened since the
//! previous batch: the connections created (with the global frame number of their first packet), the
//! connections judged with their verdicts, and the changes of the bytes buffered. The merger (the
//! calling thread) takes batch *i* of every worker and
//!
//! - assigns the global connection ids ("in order of the first packet") by merging the creations;
//! - orders the judged connections as one thread judges them: by the frame that triggered the
//!   judgment; at one frame, first those judged as the packet was processed (port reuse, eviction, the
//!   total buffer limit: all from the one shard that owns the packet, in its order), then those of the
//!   sweep at that frame by id; at the end of the input, all remaining by id;
//! - replays creations and judgments for `max_live_connections`, and the buffered bytes for
//!   `max_buffered_bytes`, so both are exact;
//! - prints through the usual [`ReportSink`]s.
//!
//! Frame counts, skipped frames and fragment counts are taken from one worker (they are the same in
//! all); per-connection counters are summed. Channels are bounded, so memory stays bounded.
//!
//! # Limits
//! `--max-connections` and `--max-buffer-total` apply per shard, divided by the number of threads:
//! as long as neither is hit, the output is identical to one thread's; a hit is counted and noted as
//! usual (and said on standard error), but which connections it touches may differ from one thread.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use crate::analyze::{Analyzer, Connection, JudgedBecause, Options, ShardProbe, Totals};
use crate::capture::CaptureReader;
use crate::progress::Progress;
use crate::report::{ConnReport, InputInfo, ReportSink, Summary};
use crate::verdict::Verdict;

/// Frames between two batches (besides the batch after each sweep).
pub const BATCH_FRAMES: u64 = 16_384;

/// Batches a worker may be ahead of the merger.
const CHANNEL_DEPTH: usize = 2;

/// Which connections a shard tracks.
#[derive(Clone, Copy, Debug)]
pub struct ShardFilter {
    index: u64,
    count: u64,
}

impl ShardFilter {
    /// Shard `index` of `count`.
    pub fn new(index: usize, count: usize) -> Self {
        ShardFilter {
            index: index as u64,
            count: count.max(1) as u64,
        }
    }

    /// True when the connection with canonical flow key `k` belongs to this shard.
    pub fn owns(&self, k: &(IpAddr, u16, IpAddr, u16)) -> bool {
        flow_hash(k) % self.count == self.index
    }
}

/// A fixed hash of a canonical flow key (the same in every run and every process, so a shard's
/// connections do not depend on a random seed). Symmetric because the key is canonical (lower
/// endpoint first).
pub fn flow_hash(k: &(IpAddr, u16, IpAddr, u16)) -> u64 {
    fn bits(ip: &IpAddr) -> u128 {
        match ip {
            IpAddr::V4(a) => u128::from(u32::from(*a)) | (1u128 << 127),
            IpAddr::V6(a) => u128::from(*a),
        }
    }
    // splitmix64's finalizer: every input bit moves every output bit.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let (a, b) = (bits(&k.0), bits(&k.2));
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for w in [
        (a >> 64) as u64,
        a as u64,
        (b >> 64) as u64,
        b as u64,
        (u64::from(k.1) << 16) | u64::from(k.3),
    ] {
        h = mix(h ^ w);
    }
    h
}

/// When, relative to the connection created at the same frame, a judgment happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Judged before the packet's connection was created: port reuse, eviction.
    BeforeCreation = 0,
    /// The connection created at this frame.
    Creation = 1,
    /// Judged after the packet: the total buffer limit.
    AfterPacket = 2,
    /// Judged by the sweep at this frame, or at the end of the input: in order of id.
    Sweep = 3,
}

/// One judged connection, as a worker sends it.
pub struct Judged {
    /// Global frame number (1-based over all inputs) of the frame at which it was judged;
    /// `u64::MAX` at the end of the input.
    seq: u64,
    phase: Phase,
    /// Order among the connections the worker judged at that frame.
    sub: u32,
    /// Its id in the worker (ids are given in the worker in order of creation).
    local_id: u64,
    conn: Connection,
    verdict: Verdict,
}

/// A change of the bytes a worker's connections buffer.
#[derive(Clone, Copy, Debug)]
struct Buffered {
    seq: u64,
    /// The worker's bytes right after the frame's TCP packet was accounted, if it had one.
    peak: Option<usize>,
    /// The worker's bytes after the frame.
    end: usize,
}

/// What a worker sends when its run ends.
pub struct End {
    totals: Totals,
    inputs: Vec<InputInfo>,
}

/// What a worker sends after a batch's frames.
#[derive(Default)]
pub struct Batch {
    /// The global frame number of the batch's last frame (`u64::MAX` for the last batch).
    upto: u64,
    /// Connections created: (global frame number, id in the worker).
    created: Vec<(u64, u64)>,
    judged: Vec<Judged>,
    buffered: Vec<Buffered>,
    end: Option<Box<End>>,
}

/// The options of one of `n` shards: the two limits on all connections together are divided.
pub fn shard_options(opts: Options, n: usize) -> Options {
    let n = n.max(1);
    let mut o = opts;
    o.max_connections = (opts.max_connections / n).max(1);
    o.max_buffered_total = (opts.max_buffered_total / n).max(1);
    o
}

/// Analyse `paths` with `threads` workers and print through `sink` on this thread.
pub fn run(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    threads: usize,
    progress: Option<&Progress>,
) -> io::Result<Summary> {
    let shard_opts = shard_options(opts, threads);
    let worker = |shard: usize, tx: SyncSender<Batch>| {
        let progress = if shard == 0 { progress } else { None };
        work(paths, shard_opts, shard, threads, progress, &tx);
    };
    let summary = run_workers(paths, opts, sink, threads, &worker)?;
    let l = &summary.totals.limits;
    if l.connections > 0 || l.buffer_total > 0 {
        eprintln!(
            "tlsautopsy: note: with --threads {threads}, --max-connections and --max-buffer-total apply per thread ({} connections, {} bytes each); a limit was hit, so which connections it touched may differ from a run with one thread",
            shard_opts.max_connections, shard_opts.max_buffered_total
        );
    }
    Ok(summary)
}

/// Starts `threads` workers (`worker(shard, sender)`), merges their batches into `sink`, and joins
/// them. A worker that panics or stops early makes this an error, never a hang.
pub fn run_workers(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    threads: usize,
    worker: &(dyn Fn(usize, SyncSender<Batch>) + Sync),
) -> io::Result<Summary> {
    let names: Vec<String> = paths.to_vec();
    sink.begin(&names)?;
    std::thread::scope(|scope| {
        let mut rxs = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for shard in 0..threads {
            let (tx, rx) = sync_channel::<Batch>(CHANNEL_DEPTH);
            let h = std::thread::Builder::new()
                .name(format!("tlsautopsy-shard-{shard}"))
                .spawn_scoped(scope, move || worker(shard, tx));
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    drop(rxs);
                    let _ = handles.into_iter().map(|h| h.join()).count();
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot start an analysis thread: {e}"),
                    ));
                }
            }
            rxs.push(rx);
        }
        let result = merge(&rxs, &names, opts, sink);
        // Workers still sending see the channel closed and stop.
        drop(rxs);
        let mut panicked: Option<String> = None;
        for (shard, h) in handles.into_iter().enumerate() {
            if let Err(payload) = h.join() {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_string());
                panicked.get_or_insert(format!("analysis thread {shard} panicked: {msg}"));
            }
        }
        match panicked {
            Some(m) => Err(io::Error::other(m)),
            None => result,
        }
    })
}

/// One worker: reads every input, tracks its shard's connections, sends batches.
fn work(
    paths: &[String],
    opts: Options,
    shard: usize,
    threads: usize,
    progress: Option<&Progress>,
    tx: &SyncSender<Batch>,
) {
    let mut analyzer = Analyzer::new(opts);
    analyzer.set_shard(shard, threads);
    let mut batch = Batch::default();
    let mut seq: u64 = 0;
    let mut prev = analyzer.shard_probe();
    let mut judged: Vec<(Connection, Verdict)> = Vec::new();
    let mut open = |p: &str| CaptureReader::open(Path::new(p));
    let mut closed = false;
    let inputs = crate::run::read_inputs(paths, &mut open, progress, |file, frame| {
        seq += 1;
        analyzer.frame(file, frame, &mut |c, v| judged.push((c, v)));
        let now = analyzer.shard_probe();
        record(&mut batch, seq, &prev, &now, &mut judged);
        let sweep = now.sweeps != prev.sweeps;
        prev = now;
        if sweep || seq % BATCH_FRAMES == 0 {
            batch.upto = seq;
            if tx.send(std::mem::take(&mut batch)).is_err() {
                closed = true;
                return false;
            }
        }
        true
    });
    if closed {
        return;
    }
    let totals = analyzer.finish(&mut |c, v| judged.push((c, v)));
    let now = analyzer.shard_probe();
    record(&mut batch, u64::MAX, &prev, &now, &mut judged);
    batch.upto = u64::MAX;
    batch.end = Some(Box::new(End { totals, inputs }));
    let _ = tx.send(batch);
}

/// Adds to `batch` what happened at frame `seq` (`u64::MAX`: the end), from the probes before and
/// after it and the connections judged at it.
fn record(
    batch: &mut Batch,
    seq: u64,
    prev: &ShardProbe,
    now: &ShardProbe,
    judged: &mut Vec<(Connection, Verdict)>,
) {
    // A frame creates at most one connection; its id is the newest.
    if now.created != prev.created {
        batch.created.push((seq, now.created));
    }
    if !judged.is_empty() {
        // Those judged by the sweep come last.
        let swept = usize::try_from(now.swept - prev.swept).unwrap_or(usize::MAX);
        let first_swept = judged.len().saturating_sub(swept);
        for (i, (conn, verdict)) in judged.drain(..).enumerate() {
            let phase = if i >= first_swept {
                Phase::Sweep
            } else if conn.judged_because == JudgedBecause::MemoryLimit {
                Phase::AfterPacket
            } else {
                Phase::BeforeCreation
            };
            batch.judged.push(Judged {
                seq,
                phase,
                sub: u32::try_from(i).unwrap_or(u32::MAX),
                local_id: conn.id,
                conn,
                verdict,
            });
        }
    }
    let peak = (now.packets != prev.packets).then_some(now.buffered_at_packet);
    if now.buffered != prev.buffered || peak.is_some_and(|p| p > prev.buffered) {
        batch.buffered.push(Buffered {
            seq,
            peak,
            end: now.buffered,
        });
    }
}

/// The merger's running state.
struct Merger {
    /// Global id of each live connection, by (shard, id in the shard).
    ids: HashMap<(usize, u64), u64>,
    next_id: u64,
    live: usize,
    max_live: usize,
    /// Bytes buffered per shard, and in all.
    shard_buffered: Vec<usize>,
    buffered: usize,
    max_buffered: usize,
}

/// Takes batch after batch of every worker, puts them in one thread's order, prints them.
fn merge(
    rxs: &[Receiver<Batch>],
    names: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
) -> io::Result<Summary> {
    let n = rxs.len();
    let mut summary = Summary::default();
    let mut m = Merger {
        ids: HashMap::new(),
        next_id: 1,
        live: 0,
        max_live: 0,
        shard_buffered: vec![0; n],
        buffered: 0,
        max_buffered: 0,
    };
    loop {
        let mut batches = Vec::with_capacity(n);
        for (shard, rx) in rxs.iter().enumerate() {
            match rx.recv() {
                Ok(b) => batches.push(b),
                Err(_) => {
                    return Err(io::Error::other(format!(
                        "analysis thread {shard} stopped before the end of the input"
                    )))
                }
            }
        }
        let upto = batches.first().map_or(0, |b| b.upto);
        if batches.iter().any(|b| b.upto != upto) {
            return Err(io::Error::other(
                "internal error: the analysis threads went out of step",
            ));
        }
        let judged = m.batch(&mut batches)?;
        for (conn, verdict) in judged {
            summary.count(&verdict);
            sink.connection(&ConnReport {
                conn: &conn,
                verdict: &verdict,
                files: names,
            })?;
        }
        if upto == u64::MAX {
            let mut ends = Vec::with_capacity(n);
            for b in batches {
                match b.end {
                    Some(e) => ends.push(*e),
                    None => {
                        return Err(io::Error::other(
                            "internal error: an analysis thread ended without its totals",
                        ))
                    }
                }
            }
            let (totals, inputs) = merge_totals(ends, opts, &m);
            summary.totals = totals;
            summary.inputs = inputs;
            sink.finish(&summary)?;
            return Ok(summary);
        }
    }
}

impl Merger {
    /// Ids, order and the live/buffered replays for one batch of every shard; returns the judged
    /// connections in one thread's order, with their global ids.
    fn batch(&mut self, batches: &mut [Batch]) -> io::Result<Vec<(Connection, Verdict)>> {
        // Ids in order of creation; the live-connection replay by (frame, phase).
        let mut created: Vec<(u64, usize, u64)> = Vec::new();
        let mut events: Vec<(u64, Phase)> = Vec::new();
        for (shard, b) in batches.iter_mut().enumerate() {
            created.extend(b.created.drain(..).map(|(seq, id)| (seq, shard, id)));
        }
        created.sort_unstable();
        for &(seq, shard, local) in &created {
            self.ids.insert((shard, local), self.next_id);
            self.next_id += 1;
            events.push((seq, Phase::Creation));
        }
        let mut judged: Vec<((u64, Phase, u64), Connection, Verdict)> = Vec::new();
        for (shard, b) in batches.iter_mut().enumerate() {
            for j in b.judged.drain(..) {
                let Some(id) = self.ids.remove(&(shard, j.local_id)) else {
                    return Err(io::Error::other(
                        "internal error: a judged connection was never created",
                    ));
                };
                let mut conn = j.conn;
                conn.id = id;
                let sub = if j.phase == Phase::Sweep {
                    id
                } else {
                    u64::from(j.sub)
                };
                events.push((j.seq, j.phase));
                judged.push(((j.seq, j.phase, sub), conn, j.verdict));
            }
        }
        judged.sort_by_key(|j| j.0);
        events.sort_unstable();
        for (_, phase) in events {
            if phase == Phase::Creation {
                self.live += 1;
                self.max_live = self.max_live.max(self.live);
            } else {
                self.live = self.live.saturating_sub(1);
            }
        }
        // Buffered bytes: at one frame, the shard that had the packet peaks first, then every shard's
        // sweep (which only frees) settles.
        let mut changes: Vec<(u64, bool, usize, Buffered)> = Vec::new();
        for (shard, b) in batches.iter_mut().enumerate() {
            changes.extend(
                b.buffered
                    .drain(..)
                    .map(|c| (c.seq, c.peak.is_none(), shard, c)),
            );
        }
        changes.sort_unstable_by_key(|c| (c.0, c.1, c.2));
        for (_, _, shard, c) in changes {
            let Some(cur) = self.shard_buffered.get_mut(shard) else {
                continue;
            };
            let others = self.buffered.saturating_sub(*cur);
            if let Some(p) = c.peak {
                self.max_buffered = self.max_buffered.max(others.saturating_add(p));
            }
            *cur = c.end;
            self.buffered = others.saturating_add(c.end);
        }
        Ok(judged.into_iter().map(|(_, c, v)| (c, v)).collect())
    }
}

/// The run's totals from the workers' ends: what every worker counts alike from one of them, the
/// per-connection counters summed, the maxima from the merger's replays, the options as given.
fn merge_totals(ends: Vec<End>, opts: Options, m: &Merger) -> (Totals, Vec<InputInfo>) {
    let mut ends = ends.into_iter();
    let Some(first) = ends.next() else {
        return (Totals::default(), Vec::new());
    };
    let mut t = first.totals;
    for e in ends {
        let o = e.totals;
        t.connections += o.connections;
        t.evicted += o.evicted;
        t.idle_judged += o.idle_judged;
        t.icmp_unmatched += o.icmp_unmatched;
        let (l, ol) = (&mut t.limits, &o.limits);
        l.connections = l.connections.saturating_add(ol.connections);
        l.buffer_per_direction = l
            .buffer_per_direction
            .saturating_add(ol.buffer_per_direction);
        l.buffer_total = l.buffer_total.saturating_add(ol.buffer_total);
        l.buffer_total_released = l
            .buffer_total_released
            .saturating_add(ol.buffer_total_released);
        l.buffer_total_judged = l.buffer_total_judged.saturating_add(ol.buffer_total_judged);
        l.handshake_message = l.handshake_message.saturating_add(ol.handshake_message);
        l.events = l.events.saturating_add(ol.events);
        // `fragments`: every worker reassembles every datagram; the same count in all.
    }
    t.max_live_connections = m.max_live;
    t.max_buffered = m.max_buffered;
    t.options = opts;
    (t, first.inputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn hash_is_fixed_and_spreads() {
        let k = |p: u16| {
            (
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                p,
                IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                443,
            )
        };
        assert_eq!(flow_hash(&k(40000)), flow_hash(&k(40000)));
        let mut per = [0u32; 3];
        for p in 40000..43000 {
            per[(flow_hash(&k(p)) % 3) as usize] += 1;
        }
        assert!(per.iter().all(|&c| c > 900), "{per:?}");
        let f = ShardFilter::new(1, 2);
        let owned = (40000..40100).filter(|&p| f.owns(&k(p))).count();
        assert!((30..70).contains(&owned), "{owned}");
    }

    struct Null;
    impl ReportSink for Null {
        fn begin(&mut self, _: &[String]) -> io::Result<()> {
            Ok(())
        }
        fn connection(&mut self, _: &ConnReport<'_>) -> io::Result<()> {
            Ok(())
        }
        fn finish(&mut self, _: &Summary) -> io::Result<()> {
            Ok(())
        }
    }

    /// A worker that panics after a batch, while another keeps sending into a full channel: the
    /// merger returns an error naming the thread, and nothing hangs.
    #[test]
    fn a_panicking_worker_is_an_error_not_a_hang() {
        let worker = |shard: usize, tx: SyncSender<Batch>| {
            let batch = |upto| Batch {
                upto,
                ..Batch::default()
            };
            if shard == 1 {
                let _ = tx.send(batch(1));
                panic!("boom in shard 1");
            }
            for i in 1..1000 {
                if tx.send(batch(i)).is_err() {
                    return;
                }
            }
        };
        let err = run_workers(&[], Options::default(), &mut Null, 2, &worker)
            .err()
            .expect("an error");
        assert!(
            err.to_string()
                .contains("analysis thread 1 panicked: boom in shard 1"),
            "{err}"
        );
    }
}
