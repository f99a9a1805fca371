//! `--threads N`: flow-sharded analysis whose output is identical, byte for byte and in the same
//! order, to one thread's.
//!
//! # How
//! Worker 0 also reads the inputs, once, in time order, exactly as one thread does
//! ([`crate::run::read_inputs`] over [`CaptureReader`]: pcap, pcapng with its interfaces, link types
//! and timestamp units, standard input, several files, the same warnings where a file is cut or
//! damaged), and hands the frames out ([`Worker::lead`]); the other workers only analyse
//! ([`Worker::follow`]). So `--threads N` runs N busy threads (and the merger, which mostly waits),
//! not N + 1 on N cores. For each frame worker 0 works out the shard that owns it: a plain IPv4 or
//! IPv6 TCP segment ([`Decoder::peek_tcp`], headers read without decoding) belongs to the shard its
//! flow hashes to ([`flow_hash`], the same both ways, then [`shard_of`]: worker 0, which also
//! reads, gets one part of the flows for [`OTHER_PARTS`] of each other one (measured best on the A
//! and B captures of BENCHMARKS.md on 2 cores); the worker does not check
//! it again, [`Analyzer::frame_of_shard`]); anything else (IP fragments, ICMP errors, other
//! protocols, undecoded link types) to [`EVERYONE`].
//!
//! Each worker has its own batch (up to [`BATCH_FRAMES`] slots, or [`BATCH_BYTES`] bytes of frames
//! in one of them): a frame's metadata (a [`Slot`]) goes only into its owner's batch (into all for
//! [`EVERYONE`]), and its bytes are not copied at all: the slot says where they are in the reader's
//! read buffer, which the batch holds ([`CaptureReader::next_frame_in_block`]: the reader reads into
//! another buffer while this one is held, and copies only the start of a record cut by the end of a
//! read; its buffers are reused once no batch holds them). When one batch is full, worker 0 hands
//! out the others' batches of that round over bounded channels ([`FEED_DEPTH`] batches each), each
//! saying where in the input it ends, then walks its own. A worker lets go of the read buffers as
//! soon as it is done with a batch and hands the batch back for worker 0 to fill again (no
//! allocation, no page faults, no buffer freed on another thread than its own). Memory stays
//! bounded: the read buffers held are those of the batches in flight.
//!
//! Worker 0 keeps the global bookkeeping that depends on every frame: it runs one thread's clock
//! ([`SweepClock`]: the latest timestamp, and where the periodic sweep falls, a function of the
//! timestamps alone), gives each slot its global frame number and the clock after it, marks the
//! slot after which one thread sweeps, and gives every other worker a sweep-only slot there; at the
//! end it tells each worker what it did not see ([`Elsewhere`]: the frames of other shards, their
//! bytes, the first and last timestamps, the final clock). So a worker processes only its own and
//! [`EVERYONE`]'s frames ([`Analyzer::frame`]), with the clock moved to one thread's first
//! ([`Analyzer::advance_clock`]), sweeps exactly where one thread does ([`Analyzer::run_sweep`]),
//! and ends with the same frame counts, timestamps and clock ([`Analyzer::count_elsewhere`]);
//! skipped frames and IP fragment reassembly come from the [`EVERYONE`] frames every worker
//! decodes. It tracks only the connections whose flow hashes to its shard ([`ShardFilter`]; ICMP
//! errors go by the flow they quote, a reassembled datagram by its flow).
//!
//! Each worker sends its events in its own order, which is one thread's order restricted to its
//! connections: at each frame (by global frame number), first the connections judged as the packet
//! was processed before a connection was created (port reuse, eviction), then the connection created
//! (at most one per frame), the bytes buffered right after the packet, those judged after it (the
//! total buffer limit), those judged by the sweep at that frame (by id), and the bytes buffered after
//! the frame; at the end of the input, all remaining connections by id. The merger (the calling
//! thread) merges the workers' events by that order (a k-way merge) and
//!
//! - gives each created connection the next global id ("in order of the first packet"); a sweep
//!   judgment is ordered by its connection's global id, known by then since the connection's creation
//!   came earlier in the same worker's events;
//! - prints the judged connections through the usual [`ReportSink`]s, in exactly one thread's order;
//! - replays creations and judgments for `max_live_connections`, and the buffered bytes for
//!   `max_buffered_bytes`, so both are exact.
//!
//! Workers send their events in chunks (every [`CHUNK_JUDGED`] judged connections, and at the end
//! of every [`MARK_BATCHES`]th batch with a mark saying "nothing more up to here", so a worker with
//! nothing to say never holds the others back) over bounded channels, so memory stays bounded:
//! besides the live connections (split between the workers), a few batches and a few chunks per
//! worker are in flight. A sweep is run apart from its frame's packet ([`Analyzer::run_sweep`]), so
//! its judgments stream out as they are made, as they do with one thread. The merger hands each
//! printed connection back to its worker to be freed there: freeing on another thread than the one
//! that allocated costs the system allocator dearly.
//!
//! No deadlock although every channel is bounded. The rule: a worker about to wait for its next
//! batch, and worker 0 about to wait for room in a feed, first send every event they have, with a
//! mark at the end of the last batch they walked ([`Worker::say_all`]); and worker 0 hands out a
//! round's batches before walking its own. The merger waits only for a worker with no event in its
//! channel. Say worker 0 waits for room in W's feed (W walks slower): it has said everything up to
//! the end of round `k - 1`, W has the rounds `k - FEED_DEPTH..k - 1` in its feed, so W's events
//! come from earlier rounds and sort before worker 0's mark: the merger takes them, W moves on. Say
//! worker 0 waits for the merger (its channel is full): a worker X the merger would wait for (an
//! empty channel) is either walking, or waiting for a batch, having said everything up to the end
//! of the last round handed out, which worker 0's events (of that round or earlier) sort before.
//! Say W waits for the merger: its channel is not empty, so the merger waits for another worker,
//! which as above is walking or has said all.
//!
//! Frame counts, skipped frames and fragment counts are taken from one worker (they are the same in
//! all, with what worker 0 counted for it), what was read of each input from worker 0;
//! per-connection counters are summed.
//!
//! # Limits
//! `--max-connections` and `--max-buffer-total` apply per shard, divided by the number of threads:
//! as long as neither is hit, the output is identical to one thread's; a hit is counted and noted as
//! usual (and said on standard error), but which connections it touches may differ from one thread.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::mpsc::{
    channel, sync_channel, Receiver, Sender, SyncSender, TryRecvError, TrySendError,
};
use std::sync::{Arc, Mutex};

use crate::analyze::{
    with_verdict, Analyzer, Connection, Elsewhere, JudgedBecause, Options, ShardProbe, SweepClock,
    Totals,
};
use crate::capture::{CaptureReader, Frame, FrameBlock, LinkType, Timestamp};
use crate::decode::Decoder;
use crate::progress::Progress;
use crate::report::{ConnReport, ReportSink, Summary};
use crate::run::InputsRead;
use crate::verdict::Verdict;

/// Worker 0 hands out a round of batches when one holds this many frames...
const BATCH_FRAMES: usize = 1024;
/// ... or this many bytes of frame data.
const BATCH_BYTES: usize = 256 << 10;
/// Batches worker 0 may be ahead of another worker.
const FEED_DEPTH: usize = 8;
/// A worker sends what it has, with a mark, at the end of every this many batches, so the merger
/// prints as the input is read (before waiting, a worker says all anyway: see the module docs).
const MARK_BATCHES: usize = 4;
/// The owner of a frame every worker decodes (not a plain TCP segment: IP fragments, ICMP errors,
/// other protocols, link types not decoded).
const EVERYONE: u16 = u16::MAX;

/// A frame a worker processes (its shard's or [`EVERYONE`]'s), where its bytes are in
/// [`Batch::data`]; or only a sweep, at another shard's frame.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Global frame number (1-based over all inputs).
    seq: u64,
    /// The clock after the frame: the latest timestamp of all frames up to it.
    now: Timestamp,
    number: u64,
    ts: Timestamp,
    /// Where its bytes are: `blocks[block][start..start + len]`.
    block: u32,
    start: u32,
    len: u32,
    link: LinkType,
    interface: u32,
    origlen: u32,
    file: u16,
    /// The worker processes the frame (false: the slot is only a sweep).
    frame: bool,
    /// A plain TCP segment of this worker's shard (not one every worker decodes).
    routed: bool,
    /// One thread sweeps after this frame.
    sweep: bool,
}

/// One worker's share of the frames worker 0 read since the last round.
#[derive(Default)]
struct Batch {
    /// The read buffers its frames are in (held, so worker 0 reads into others meanwhile).
    blocks: Vec<Arc<[u8]>>,
    /// Bytes of its frames.
    bytes: usize,
    slots: Vec<Slot>,
    /// The global number of the last frame read before the round was handed out (of any shard).
    last_seq: u64,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            blocks: Vec::new(),
            bytes: 0,
            slots: Vec::with_capacity(BATCH_FRAMES),
            last_seq: 0,
        }
    }

    /// A frame for this worker, in `at`, at `when` (`routed`: of its shard, not everyone's).
    fn push(&mut self, file: u16, f: &Frame<'_>, at: FrameBlock<'_>, when: When, routed: bool) {
        let When { seq, now, sweep } = when;
        if !self.blocks.last().is_some_and(|b| Arc::ptr_eq(b, at.block)) {
            self.blocks.push(Arc::clone(at.block));
        }
        self.bytes += f.data.len();
        // (A read buffer is at most a few times MAX_PCAPNG_BLOCK_LEN: positions fit in 32 bits;
        // one that did not would give an empty frame, never a wrong one.)
        let (start, len) = match (u32::try_from(at.pos), u32::try_from(f.data.len())) {
            (Ok(s), Ok(l)) => (s, l),
            _ => (u32::MAX, 0),
        };
        self.slots.push(Slot {
            seq,
            now,
            number: f.number,
            ts: f.ts,
            block: (self.blocks.len() - 1) as u32,
            start,
            len,
            link: f.link,
            interface: f.interface,
            origlen: f.origlen,
            file,
            frame: true,
            routed,
            sweep,
        });
    }

    /// One thread sweeps after frame `seq`, another shard's.
    fn push_sweep(&mut self, when: When) {
        let When { seq, now, .. } = when;
        self.slots.push(Slot {
            seq,
            now,
            number: 0,
            ts: now,
            block: 0,
            start: 0,
            len: 0,
            link: LinkType(0),
            interface: 0,
            origlen: 0,
            file: 0,
            frame: false,
            routed: false,
            sweep: true,
        });
    }

    fn full(&self) -> bool {
        self.slots.len() >= BATCH_FRAMES || self.bytes >= BATCH_BYTES
    }

    fn frame(&self, s: &Slot) -> Frame<'_> {
        Frame {
            number: s.number,
            ts: s.ts,
            link: s.link,
            interface: s.interface,
            origlen: s.origlen,
            data: self
                .blocks
                .get(s.block as usize)
                .and_then(|b| {
                    b.get(s.start as usize..(s.start as usize).checked_add(s.len as usize)?)
                })
                .unwrap_or(&[]),
        }
    }
}

/// Where a frame is in one thread's run: its global number, the clock after it, whether one thread
/// sweeps after it.
#[derive(Clone, Copy, Debug)]
struct When {
    seq: u64,
    now: Timestamp,
    sweep: bool,
}

/// What worker 0 sends each other worker.
enum Feed {
    Frames(Batch),
    /// The end of the input: what was read of each input (empty: worker 0 has it), and the frames
    /// of other shards the worker did not see.
    End(Box<(InputsRead, Elsewhere)>),
}

/// Chunks a worker may be ahead of the merger (with [`CHUNK_JUDGED`]: at most 512 judged
/// connections in flight per worker).
const CHANNEL_DEPTH: usize = 32;

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

    /// True when the connection between `a`:`ap` and `b`:`bp` (either way) belongs to this shard.
    #[inline]
    pub fn owns(&self, a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> bool {
        shard_of(flow_hash(a, ap, b, bp), self.count) == self.index
    }
}

/// Parts of the flows each shard but the first gets for the first's one ([`shard_of`]): with two
/// threads, worker 0 (which also reads) gets a quarter. Measured on 2 cores: two parts leave worker
/// 0 the slowest on the bulk-heavy capture A, four the other worker on the connection-heavy B.
const OTHER_PARTS: u64 = 3;

/// The shard of `count` that a flow hash belongs to. Shard 0 also reads the input and hands out
/// the frames, so it gets a smaller share: one part in `1 + OTHER_PARTS * (count - 1)`, the others
/// [`OTHER_PARTS`] each.
#[inline]
pub fn shard_of(hash: u64, count: u64) -> u64 {
    let parts = OTHER_PARTS
        .saturating_mul(count.saturating_sub(1))
        .saturating_add(1);
    (hash % parts).div_ceil(OTHER_PARTS)
}

/// A fixed hash of a TCP flow between `a`:`ap` and `b`:`bp` (the same in every run and every
/// process, so a shard's connections do not depend on a random seed). Symmetric, without putting
/// the endpoints in order first: the two endpoints' hashes are added.
#[inline]
pub fn flow_hash(a: IpAddr, ap: u16, b: IpAddr, bp: u16) -> u64 {
    fn end(ip: IpAddr, port: u16) -> u64 {
        let bits = match ip {
            IpAddr::V4(a) => u64::from(u32::from(a)),
            IpAddr::V6(a) => {
                let b = u128::from(a);
                ((b >> 64) as u64) ^ (b as u64).rotate_left(17)
            }
        };
        (bits ^ (u64::from(port) << 48)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    // splitmix64's finalizer: every input bit moves every output bit.
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    mix(end(a, ap).wrapping_add(end(b, bp)))
}

/// Where, among what happens at one frame, an event falls (one thread's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Judged before the frame's connection was created: port reuse, eviction (in the order the
    /// worker judged them: they all come from the one shard that owns the packet).
    BeforeCreation = 0,
    /// The connection created at this frame (at most one).
    Creation = 1,
    /// The bytes buffered right after the frame's TCP packet (where one thread takes the maximum).
    Peak = 2,
    /// Judged after the packet: the total buffer limit (in the worker's order).
    AfterPacket = 3,
    /// Judged by the sweep at this frame, or at the end of the input: in order of id.
    Sweep = 4,
    /// The bytes buffered after the frame.
    Settled = 5,
    /// Nothing more from this worker at or before this frame.
    Mark = 6,
    /// The worker's totals (the last event).
    End = 7,
}

/// A judged connection with its verdict.
/// A judged connection, with its JSON line rendered ahead by the worker when the output is JSON
/// ([`ConnReport::json_tail`]: the merger then only writes it, so the JSON is made in parallel).
type Judgment = Box<(Box<Connection>, Verdict, Option<Vec<u8>>)>;

/// A worker's ends of its channels: its events go to the merger; the connections the merger has
/// printed come back, to be freed by the thread that allocated them (much cheaper with the system
/// allocator than freeing them on the merger's thread).
pub struct Link {
    tx: SyncSender<Vec<Event>>,
    back: Receiver<Back>,
}

/// What the merger hands back to a worker, to be freed or reused by the thread that allocated it.
pub enum Back {
    /// Connections printed.
    Printed(Vec<Judgment>),
    /// An emptied chunk of events (its room is reused for the next chunk).
    Spent(Vec<Event>),
}

/// The merger's ends of a worker's channels.
type MergerLink = (Receiver<Vec<Event>>, Sender<Back>);

/// Emptied chunks a worker keeps for reuse.
const SPARE_CHUNKS: usize = 4;

/// Printed connections the merger gathers before sending them back.
const RETURN_BATCH: usize = 4;

/// What happened.
enum What {
    /// A connection was created, with this id in the worker.
    Created(u64),
    /// A connection was judged.
    Judged(Judgment),
    /// The worker's buffered bytes ([`Phase::Peak`], [`Phase::Settled`]).
    Buffered(usize),
    Mark,
    End(Box<End>),
}

/// One event of a worker, in its order; a worker's events are sorted by (seq, phase, sub), with
/// `sub` of a [`Phase::Sweep`] judgment read as the connection's global id.
pub struct Event {
    /// Global frame number (1-based over all inputs); `u64::MAX` at the end of the input.
    seq: u64,
    phase: Phase,
    /// Order among the worker's events of the same frame and phase; for a sweep judgment, the
    /// connection's id in the worker.
    sub: u64,
    what: What,
}

/// What a worker sends when its run ends.
pub struct End {
    totals: Totals,
    inputs: InputsRead,
}

/// Judged connections a worker gathers before sending them.
const CHUNK_JUDGED: usize = 16;

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
    let threads = threads.clamp(1, usize::from(EVERYONE));
    let shard_opts = shard_options(opts, threads);
    let prepare = Prepare {
        json: sink.wants_json(),
        release: sink.json_only(),
    };
    // The feeds of workers 1.. (worker 0 reads).
    let mut feeds = Vec::with_capacity(threads);
    let mut fed: Vec<Mutex<Option<Receiver<Feed>>>> = Vec::with_capacity(threads);
    for _ in 1..threads {
        let (tx, rx) = sync_channel::<Feed>(FEED_DEPTH);
        feeds.push(tx);
        fed.push(Mutex::new(Some(rx)));
    }
    let (recycle, recycled) = channel::<Batch>();
    let reading = Mutex::new(Some((feeds, recycled)));
    let worker = |shard: usize, link: Link| {
        let w = Worker::new(paths, shard_opts, shard, threads, prepare, link);
        if shard == 0 {
            if let Some((feeds, recycled)) = reading.lock().ok().and_then(|mut g| g.take()) {
                w.lead(paths, progress, feeds, recycled);
            }
            return;
        }
        let feed = fed
            .get(shard - 1)
            .and_then(|m| m.lock().ok().and_then(|mut g| g.take()));
        if let Some(feed) = feed {
            w.follow(feed, recycle.clone());
        }
    };
    // A worker that could not be started leaves its feed here: dropped then, so worker 0 cannot
    // wait on it.
    let abort = || {
        for m in &fed {
            if let Ok(mut g) = m.lock() {
                g.take();
            }
        }
    };
    let summary = run_workers(paths, opts, sink, threads, &worker, &abort)?;
    let l = &summary.totals.limits;
    if l.connections > 0 || l.buffer_total > 0 {
        eprintln!(
            "tlsautopsy: note: with --threads {threads}, --max-connections and --max-buffer-total apply per thread ({} connections, {} bytes each); a limit was hit, so which connections it touched may differ from a run with one thread",
            shard_opts.max_connections, shard_opts.max_buffered_total
        );
    }
    Ok(summary)
}

/// A panic's message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

/// Starts `threads` workers (`worker(shard, sender)`), merges their events into `sink`, and joins
/// them. A worker that panics or stops early makes this an error, never a hang; when one cannot be
/// started, `abort` is called before the others are joined (to free those that would wait for it).
pub fn run_workers(
    paths: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
    threads: usize,
    worker: &(dyn Fn(usize, Link) + Sync),
    abort: &dyn Fn(),
) -> io::Result<Summary> {
    let names: Vec<String> = paths.to_vec();
    sink.begin(&names)?;
    std::thread::scope(|scope| {
        let mut rxs = Vec::with_capacity(threads);
        let mut handles = Vec::with_capacity(threads);
        for shard in 0..threads {
            let (tx, rx) = sync_channel::<Vec<Event>>(CHANNEL_DEPTH);
            let (back_tx, back) = channel::<Back>();
            let h = std::thread::Builder::new()
                .name(format!("tlsautopsy-shard-{shard}"))
                .spawn_scoped(scope, move || worker(shard, Link { tx, back }));
            match h {
                Ok(h) => handles.push(h),
                Err(e) => {
                    drop(rxs);
                    abort();
                    for h in handles {
                        let _ = h.join();
                    }
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot start an analysis thread: {e}"),
                    ));
                }
            }
            rxs.push((rx, back_tx));
        }
        let result = merge(rxs, &names, opts, sink);
        // (The receivers are dropped by now: workers still sending see it and stop.)
        let mut panicked: Option<String> = None;
        for (shard, h) in handles.into_iter().enumerate() {
            if let Err(payload) = h.join() {
                let msg = panic_message(payload.as_ref());
                panicked.get_or_insert(format!("analysis thread {shard} panicked: {msg}"));
            }
        }
        match panicked {
            Some(m) => Err(io::Error::other(m)),
            None => result,
        }
    })
}

/// A worker's outgoing events.
struct Out {
    link: Link,
    events: Vec<Event>,
    judged: usize,
    /// The merger is gone.
    closed: bool,
    /// Emptied chunks the merger handed back, reused for the next ones.
    spare: Vec<Vec<Event>>,
    /// The input names, when judged connections are to be rendered as JSON here.
    render: Option<Vec<String>>,
    /// The printers read nothing but the rendered line: free the rest of a judged connection here.
    release: bool,
}

/// What a worker does with a judged connection before it sends it to the merger.
#[derive(Clone, Copy, Debug)]
struct Prepare {
    /// Render its JSON line ([`ReportSink::wants_json`]).
    json: bool,
    /// Then free everything the printers do not read ([`ReportSink::json_only`]): freed by the
    /// thread that allocated it, right after its last use, while it is still in that core's cache.
    release: bool,
}

impl Out {
    fn push(&mut self, seq: u64, phase: Phase, sub: u64, mut what: What) {
        if let What::Judged(b) = &mut what {
            self.judged += 1;
            let (conn, verdict, tail) = &mut **b;
            if let Some(files) = &self.render {
                *tail = Some(crate::report::json::render_tail(&ConnReport {
                    conn,
                    verdict,
                    files,
                    json_tail: None,
                }));
            }
            if self.release {
                conn.release_details();
                verdict.release_text();
            }
        }
        self.events.push(Event {
            seq,
            phase,
            sub,
            what,
        });
    }

    /// Sends what was gathered (and frees what the merger sent back); false when the merger is gone.
    fn send(&mut self) -> bool {
        if !self.closed && !self.events.is_empty() {
            self.judged = 0;
            let next = self.spare.pop().unwrap_or_default();
            let chunk = std::mem::replace(&mut self.events, next);
            self.closed = self.link.tx.send(chunk).is_err();
        }
        self.take_back();
        !self.closed
    }

    /// Frees the connections the merger has printed (soon after, while the allocator can still
    /// reuse their memory warm), keeps emptied chunks for reuse.
    fn take_back(&mut self) {
        while let Ok(back) = self.link.back.try_recv() {
            if let Back::Spent(mut v) = back {
                if self.spare.len() < SPARE_CHUNKS {
                    v.clear();
                    self.spare.push(v);
                }
            }
        }
    }
}

/// One worker's state: its analyzer, its outgoing events, where it is.
struct Worker {
    analyzer: Analyzer,
    out: Out,
    /// The probe after the last frame walked.
    prev: ShardProbe,
    /// Connections the frame being walked judged.
    judged: Vec<(Box<Connection>, Verdict)>,
    /// Batches walked, and where the last one ends in the input.
    batches: usize,
    walked: u64,
}

impl Worker {
    fn new(
        paths: &[String],
        opts: Options,
        shard: usize,
        threads: usize,
        prepare: Prepare,
        link: Link,
    ) -> Worker {
        let mut analyzer = Analyzer::new(opts);
        analyzer.set_shard(shard, threads);
        let prev = analyzer.shard_probe();
        Worker {
            analyzer,
            out: Out {
                link,
                events: Vec::new(),
                judged: 0,
                closed: false,
                spare: Vec::new(),
                render: prepare.json.then(|| paths.to_vec()),
                release: prepare.release,
            },
            prev,
            judged: Vec::new(),
            batches: 0,
            walked: 0,
        }
    }

    /// Walks a batch: one thread's clock, each frame's packet, the sweep where one thread sweeps;
    /// every few batches, everything up to the batch's end is said (the merger needs it from every
    /// worker to move past it; see the module docs on why this cannot deadlock). False when the
    /// merger is gone.
    fn walk(&mut self, batch: &Batch) -> bool {
        let Worker {
            analyzer,
            out,
            prev,
            judged,
            ..
        } = self;
        for slot in &batch.slots {
            let seq = slot.seq;
            analyzer.advance_clock(slot.now, seq);
            if slot.frame {
                {
                    let mut done = with_verdict(|c, v| judged.push((c, v)));
                    if slot.routed {
                        analyzer.frame_of_shard(slot.file, &batch.frame(slot), &mut done);
                    } else {
                        analyzer.frame(slot.file, &batch.frame(slot), &mut done);
                    }
                }
                let now = analyzer.shard_probe();
                record_packet(out, seq, prev, &now, judged);
            }
            if slot.sweep {
                analyzer.run_sweep(&mut with_verdict(|c, v| out.judged_by_sweep(seq, c, v)));
            }
            let now = analyzer.shard_probe();
            if now.buffered != prev.buffered {
                out.push(seq, Phase::Settled, 0, What::Buffered(now.buffered));
            }
            *prev = now;
            if out.judged >= CHUNK_JUDGED && !out.send() {
                return false;
            }
        }
        self.walked = batch.last_seq;
        self.batches += 1;
        if self.batches % MARK_BATCHES == 0 {
            self.say_all()
        } else {
            self.out.take_back();
            true
        }
    }

    /// Sends everything up to the end of the last batch walked, with a mark: before waiting for
    /// anything, so the merger never waits for a worker that waits. False when the merger is gone.
    fn say_all(&mut self) -> bool {
        self.out.push(self.walked, Phase::Mark, 0, What::Mark);
        self.out.send()
    }

    /// Worker 0: hands `feed` to another worker; when its feed is full, says all first (see the
    /// module docs). False when that worker or the merger is gone.
    fn hand(&mut self, tx: &SyncSender<Feed>, feed: Feed) -> bool {
        match tx.try_send(feed) {
            Ok(()) => true,
            Err(TrySendError::Full(f)) => self.say_all() && tx.send(f).is_ok(),
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Worker 1 and up: walks the batches worker 0 hands out, hands each back to be filled again.
    fn follow(mut self, feed: Receiver<Feed>, recycle: Sender<Batch>) {
        let end = loop {
            let next = match feed.try_recv() {
                Ok(f) => Ok(f),
                Err(TryRecvError::Empty) => {
                    if !self.say_all() {
                        return;
                    }
                    feed.recv().map_err(|_| ())
                }
                Err(TryRecvError::Disconnected) => Err(()),
            };
            let mut batch = match next {
                Ok(Feed::Frames(b)) => b,
                Ok(Feed::End(end)) => break end,
                // Worker 0 stopped early (a worker or the merger is gone): the merger says so.
                Err(()) => return,
            };
            if !self.walk(&batch) {
                return;
            }
            // The read buffers let go now, to be read into again.
            batch.blocks.clear();
            let _ = recycle.send(batch);
        };
        let (inputs, elsewhere) = *end;
        self.finish(inputs, &elsewhere);
    }

    /// Worker 0: reads every input once ([`crate::run::read_inputs`], as one thread does), runs
    /// one thread's clock and sweeps, puts each frame's slot into the batch of the shard owning it
    /// (a plain TCP segment by its flow's hash, anything else into every batch, [`EVERYONE`]); when
    /// a batch is full, hands out the others' batches of the round (see the module docs on why this
    /// cannot deadlock) and walks its own. At the end, tells each worker what it did not see. Stops
    /// early when a worker or the merger is gone.
    fn lead(
        mut self,
        paths: &[String],
        progress: Option<&Progress>,
        feeds: Vec<SyncSender<Feed>>,
        recycled: Receiver<Batch>,
    ) {
        let n = feeds.len() as u64 + 1;
        let peek = Decoder::new();
        // One batch per worker, this one's first.
        let mut cur: Vec<Batch> = (0..n).map(|_| Batch::new()).collect();
        let mut seq: u64 = 0;
        // Hands out a round: the others' batches (before walking its own, so a worker waiting for
        // its next batch has walked as far as this one will), then walks its own.
        let ship = |w: &mut Worker, cur: &mut Vec<Batch>, seq: u64| -> bool {
            let mut it = cur.iter_mut();
            let Some(mine) = it.next() else {
                return false;
            };
            for (b, tx) in it.zip(&feeds) {
                // A batch a worker is done with comes back to be filled again: its buffers are
                // neither allocated nor faulted in again, and never freed on another thread.
                let mut next = recycled.try_recv().unwrap_or_else(|_| Batch::new());
                next.blocks.clear();
                next.bytes = 0;
                next.slots.clear();
                b.last_seq = seq;
                let full = std::mem::replace(b, next);
                if !w.hand(tx, Feed::Frames(full)) {
                    return false;
                }
            }
            mine.last_seq = seq;
            let going = w.walk(mine);
            mine.blocks.clear();
            mine.bytes = 0;
            mine.slots.clear();
            going
        };
        // One thread's clock and sweeps; the plain TCP frames routed to one shard, in all and per
        // shard (a worker did not see those of the others); the first timestamp.
        let mut clock = SweepClock::default();
        let mut routed = (0u64, 0u64);
        let mut own = vec![(0u64, 0u64); cur.len()];
        let mut first_ts: Option<Timestamp> = None;
        // (Reading ahead in yet another thread only pays with a CPU to spare.)
        let ahead = crate::run::helpers_wanted(n as usize);
        let mut open =
            |p: &str, peek: bool| CaptureReader::open_ahead(Path::new(p), ahead && !peek);
        let mut going = true;
        let inputs = crate::run::read_inputs(paths, &mut open, progress, |file, frame, at| {
            seq += 1;
            clock.advance(frame.ts);
            if first_ts.is_none_or(|f| frame.ts < f) {
                first_ts = Some(frame.ts);
            }
            let sweep = clock.frame_done();
            if sweep {
                clock.swept();
            }
            let when = When {
                seq,
                now: clock.now(),
                sweep,
            };
            let owner = peek
                .peek_tcp(frame)
                .map(|(a, ap, b, bp)| shard_of(flow_hash(a, ap, b, bp), n) as usize);
            // (Only a batch that got a slot can have filled up.)
            let full = match owner.and_then(|w| Some((w, cur.get_mut(w)?, own.get_mut(w)?))) {
                Some((w, b, o)) => {
                    b.push(file, frame, at, when, true);
                    let mut full = b.full();
                    let len = frame.data.len() as u64;
                    *o = (o.0 + 1, o.1 + len);
                    routed = (routed.0 + 1, routed.1 + len);
                    if sweep {
                        for (x, b) in cur.iter_mut().enumerate() {
                            if x != w {
                                b.push_sweep(when);
                                full |= b.full();
                            }
                        }
                    }
                    full
                }
                None => {
                    let mut full = false;
                    for b in cur.iter_mut() {
                        b.push(file, frame, at, when, false);
                        full |= b.full();
                    }
                    full
                }
            };
            if full {
                going = ship(&mut self, &mut cur, seq);
            }
            going
        });
        if !going || (cur.iter().any(|b| !b.slots.is_empty()) && !ship(&mut self, &mut cur, seq)) {
            return;
        }
        let elsewhere = |o: &(u64, u64)| Elsewhere {
            frames: routed.0 - o.0,
            bytes: routed.1 - o.1,
            first_ts,
            last_ts: (seq > 0).then_some(clock.now()),
            now: clock.now(),
        };
        let mut others = own.iter();
        let mine = others.next().map(elsewhere).unwrap_or_default();
        for (tx, o) in feeds.iter().zip(others) {
            if !self.hand(
                tx,
                Feed::End(Box::new((InputsRead::default(), elsewhere(o)))),
            ) {
                return;
            }
        }
        drop(feeds);
        self.finish(inputs, &mine);
    }

    /// The end of the input: counts what the worker did not see, judges every remaining
    /// connection (by id), sends its totals, and frees what the merger sends back until it is done.
    fn finish(mut self, inputs: InputsRead, elsewhere: &Elsewhere) {
        let Worker {
            analyzer,
            out,
            prev,
            ..
        } = &mut self;
        analyzer.count_elsewhere(elsewhere);
        let totals = analyzer.finish(&mut with_verdict(|c, v| {
            out.judged_by_sweep(u64::MAX, c, v)
        }));
        let now = analyzer.shard_probe();
        if now.buffered != prev.buffered {
            out.push(u64::MAX, Phase::Settled, 0, What::Buffered(now.buffered));
        }
        out.push(
            u64::MAX,
            Phase::End,
            0,
            What::End(Box::new(End { totals, inputs })),
        );
        out.send();
        for back in out.link.back.iter() {
            drop(back);
        }
    }
}

impl Out {
    /// A connection judged by the sweep at frame `seq` (or at the end): sent in chunks as they come,
    /// so a sweep that judges thousands does not hold them all.
    fn judged_by_sweep(&mut self, seq: u64, c: Box<Connection>, v: Verdict) {
        let id = c.id;
        self.push(seq, Phase::Sweep, id, What::Judged(Box::new((c, v, None))));
        if self.judged >= CHUNK_JUDGED {
            self.send();
        }
    }
}

/// Adds what the packet of frame `seq` did, from the probes before and after it and the connections
/// it judged (in the order judged), in one thread's order.
fn record_packet(
    out: &mut Out,
    seq: u64,
    prev: &ShardProbe,
    now: &ShardProbe,
    judged: &mut Vec<(Box<Connection>, Verdict)>,
) {
    let mut created = now.created != prev.created;
    let mut peak = (now.packets != prev.packets && now.buffered_at_packet > prev.buffered)
        .then_some(now.buffered_at_packet);
    let after_packet = |out: &mut Out, created: &mut bool, peak: &mut Option<usize>| {
        // A frame creates at most one connection: its id is the newest.
        if std::mem::take(created) {
            out.push(seq, Phase::Creation, 0, What::Created(now.created));
        }
        if let Some(p) = peak.take() {
            out.push(seq, Phase::Peak, 0, What::Buffered(p));
        }
    };
    if judged.is_empty() {
        // (Most packets judge nothing: no drain to build and drop.)
        after_packet(out, &mut created, &mut peak);
        return;
    }
    for (i, (conn, verdict)) in judged.drain(..).enumerate() {
        // Port reuse and eviction come before the packet's connection is created; the total buffer
        // limit after the packet.
        let phase = if conn.judged_because == JudgedBecause::MemoryLimit {
            after_packet(out, &mut created, &mut peak);
            Phase::AfterPacket
        } else {
            Phase::BeforeCreation
        };
        out.push(
            seq,
            phase,
            i as u64,
            What::Judged(Box::new((conn, verdict, None))),
        );
    }
    after_packet(out, &mut created, &mut peak);
}

/// One worker's events as the merger reads them.
struct Stream {
    rx: Receiver<Vec<Event>>,
    /// Printed connections on their way back to the worker.
    back: Sender<Back>,
    printed: Vec<Judgment>,
    /// The chunk being read, last event first.
    chunk: Vec<Event>,
    head: Option<Event>,
    /// The head's place in one thread's order (a sweep judgment by its global id).
    key: (u64, Phase, u64),
    /// Its end was read.
    done: bool,
}

/// The merger's id map ([`Merger::ids`]), hashed with foldhash.
type Ids = HashMap<(usize, u64), u64, foldhash::fast::FixedState>;

/// The merger's running state.
struct Merger {
    /// Global id of each live connection, by (shard, id in the shard).
    ids: Ids,
    next_id: u64,
    live: usize,
    max_live: usize,
    /// Bytes buffered per shard, and in all.
    shard_buffered: Vec<usize>,
    buffered: usize,
    max_buffered: usize,
}

impl Stream {
    /// Reads the next event (waiting for the worker if need be) and works out its key.
    fn next(&mut self, shard: usize, ids: &Ids) -> io::Result<()> {
        let ev = loop {
            if let Some(e) = self.chunk.pop() {
                break e;
            }
            match self.rx.recv() {
                Ok(mut c) => {
                    c.reverse();
                    let spent = std::mem::replace(&mut self.chunk, c);
                    if spent.capacity() > 0 {
                        // A worker that is gone cannot take it: then it is freed here.
                        let _ = self.back.send(Back::Spent(spent));
                    }
                }
                Err(_) => {
                    return Err(io::Error::other(format!(
                        "analysis thread {shard} stopped before the end of the input"
                    )))
                }
            }
        };
        let sub = if ev.phase == Phase::Sweep {
            // Created earlier in this worker's events, so its global id is known.
            *ids.get(&(shard, ev.sub)).ok_or_else(|| {
                io::Error::other("internal error: a judged connection was never created")
            })?
        } else {
            ev.sub
        };
        self.key = (ev.seq, ev.phase, sub);
        self.head = Some(ev);
        Ok(())
    }
}

/// Merges the workers' events in one thread's order and prints the judged connections.
fn merge(
    rxs: Vec<MergerLink>,
    names: &[String],
    opts: Options,
    sink: &mut dyn ReportSink,
) -> io::Result<Summary> {
    let n = rxs.len();
    let mut summary = Summary::default();
    let mut m = Merger {
        ids: Ids::default(),
        next_id: 1,
        live: 0,
        max_live: 0,
        shard_buffered: vec![0; n],
        buffered: 0,
        max_buffered: 0,
    };
    let mut streams: Vec<Stream> = rxs
        .into_iter()
        .map(|(rx, back)| Stream {
            rx,
            back,
            printed: Vec::new(),
            chunk: Vec::new(),
            head: None,
            key: (0, Phase::BeforeCreation, 0),
            done: false,
        })
        .collect();
    for (shard, s) in streams.iter_mut().enumerate() {
        s.next(shard, &m.ids)?;
    }
    let mut ends: Vec<Option<End>> = (0..n).map(|_| None).collect();
    while let Some(shard) = (0..n)
        .filter(|&i| !streams[i].done)
        .min_by_key(|&i| streams[i].key)
    {
        let s = &mut streams[shard];
        let Some(ev) = s.head.take() else {
            break;
        };
        match ev.what {
            What::Created(local) => {
                m.ids.insert((shard, local), m.next_id);
                m.next_id += 1;
                m.live += 1;
                m.max_live = m.max_live.max(m.live);
            }
            What::Judged(mut b) => {
                let (conn, verdict, tail) = &mut *b;
                conn.id = m.ids.remove(&(shard, conn.id)).unwrap_or(0);
                m.live = m.live.saturating_sub(1);
                summary.count(verdict, conn.tcp.server);
                sink.connection(&ConnReport {
                    conn,
                    verdict,
                    files: names,
                    json_tail: tail.as_deref(),
                })?;
                s.printed.push(b);
                if s.printed.len() >= RETURN_BATCH {
                    // A worker that is gone cannot take them: then they are freed here.
                    let _ = s.back.send(Back::Printed(std::mem::take(&mut s.printed)));
                }
            }
            What::Buffered(v) => {
                let cur = m.shard_buffered[shard];
                let others = m.buffered.saturating_sub(cur);
                if ev.phase == Phase::Peak {
                    m.max_buffered = m.max_buffered.max(others.saturating_add(v));
                } else {
                    m.shard_buffered[shard] = v;
                    m.buffered = others.saturating_add(v);
                }
            }
            What::Mark => {}
            What::End(e) => {
                ends[shard] = Some(*e);
                s.done = true;
                let _ = s.back.send(Back::Printed(std::mem::take(&mut s.printed)));
                continue;
            }
        }
        s.next(shard, &m.ids)?;
    }
    let ends: Vec<End> = ends.into_iter().flatten().collect();
    if ends.len() != n {
        return Err(io::Error::other(
            "internal error: an analysis thread ended without its totals",
        ));
    }
    let (totals, (inputs, order)) = merge_totals(ends, opts, &m);
    summary.totals = totals;
    summary.inputs = inputs;
    summary.input_order = order;
    sink.finish(&summary)?;
    Ok(summary)
}

/// The run's totals from the workers' ends: what every worker counts alike from one of them, the
/// per-connection counters summed, the maxima from the merger's replays, the options as given.
fn merge_totals(ends: Vec<End>, opts: Options, m: &Merger) -> (Totals, InputsRead) {
    let mut ends = ends.into_iter();
    let Some(first) = ends.next() else {
        return (Totals::default(), InputsRead::default());
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
        let (a, b) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let h = |p: u16| flow_hash(a, p, b, 443);
        assert_eq!(h(40000), flow_hash(a, 40000, b, 443));
        assert_eq!(h(40000), flow_hash(b, 443, a, 40000), "both ways");
        let mut per = [0u32; 3];
        for p in 40000..43000 {
            per[(h(p) % 3) as usize] += 1;
        }
        assert!(per.iter().all(|&c| c > 900), "{per:?}");
        // Worker 0 (which also reads) gets one part in 1 + OTHER_PARTS * (n - 1).
        for n in [2u64, 3] {
            let parts = 1 + OTHER_PARTS * (n - 1);
            let mut per = vec![0u64; n as usize];
            for p in 40000..52000 {
                per[shard_of(h(p), n) as usize] += 1;
            }
            let want = |s: u64| 12000 * if s == 0 { 1 } else { OTHER_PARTS } / parts;
            for (s, &c) in per.iter().enumerate() {
                let w = want(s as u64);
                assert!(c > w * 9 / 10 && c < w * 11 / 10, "{n}: {per:?}");
            }
        }
        let f = ShardFilter::new(1, 2);
        let owned = (40000..40100).filter(|&p| f.owns(a, p, b, 443)).count();
        assert!((60..90).contains(&owned), "{owned}");
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
        let worker = |shard: usize, link: Link| {
            let mark = |seq| {
                vec![Event {
                    seq,
                    phase: Phase::Mark,
                    sub: 0,
                    what: What::Mark,
                }]
            };
            if shard == 1 {
                let _ = link.tx.send(mark(1));
                panic!("boom in shard 1");
            }
            for i in 1..1000 {
                if link.tx.send(mark(i)).is_err() {
                    return;
                }
            }
        };
        let err = run_workers(&[], Options::default(), &mut Null, 2, &worker, &|| {})
            .expect_err("an error");
        assert!(
            err.to_string()
                .contains("analysis thread 1 panicked: boom in shard 1"),
            "{err}"
        );
    }
}
