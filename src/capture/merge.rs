//! Several capture files read as one, in time order, as `mergecap` and Zeek do.
//!
//! A ring buffer (`tcpdump -C/-W/-G`, `dumpcap -b`) is handed over as a list of files whose shell
//! order is not their time order once the ring has wrapped, and captures taken at the same time on
//! two interfaces overlap. Read one after the other, the first would start connections in the
//! middle and end them early, the second would mix up the clock: silently wrong verdicts. So:
//!
//! 1. Each file is opened once to read its first frame's timestamp ([`CaptureReader::peek_ts`]),
//!    and closed again (standard input, which cannot be opened twice, is kept open).
//! 2. The files are read in order of that timestamp (a file without a frame first, then ties in the
//!    order given); a file is opened when the merge reaches its first frame, so files that follow
//!    each other in time are read one at a time (one reader open, one read buffer), and only files
//!    that overlap are open together ([`MAX_OPEN`] at most: one more waits, and says so).
//! 3. Among the files open, the next frame is the one with the earliest timestamp; a tie goes to
//!    the file given first, and a file not yet open waits for the open ones' frames of its first
//!    timestamp (so a ring buffer cut between two frames of the same microsecond is read in its
//!    order). Within a file, frames keep their order (a capture whose timestamps go backwards is
//!    not reordered), and keep their own frame numbers, as Wireshark numbers them.
//!
//! The order depends on the files alone, so reading them again (the evidence writer) gives the
//! same order. A single input is read as it is, without peeking.

use std::collections::VecDeque;

use super::{CaptureError, CaptureReader, Frame, FrameBlock, Timestamp};

/// How the inputs' order compares with the order given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InputOrder {
    /// Read one after the other, as given (or a single input).
    #[default]
    AsGiven,
    /// Read one after the other, but not as given: a later input's packets came first.
    Reordered,
    /// Inputs overlapped in time: their packets were interleaved by timestamp.
    Interleaved,
}

impl InputOrder {
    /// The name used in the JSON summary (`input_order`).
    pub fn as_str(self) -> &'static str {
        match self {
            InputOrder::AsGiven => "as_given",
            InputOrder::Reordered => "reordered",
            InputOrder::Interleaved => "interleaved",
        }
    }

    /// A sentence for the reports, when the order is not the one given.
    pub fn describe(self) -> Option<&'static str> {
        match self {
            InputOrder::AsGiven => None,
            InputOrder::Reordered => Some(
                "the inputs follow each other in time but were not given in that order (as the \
                 files of a ring buffer that wrapped): they were read in time order",
            ),
            InputOrder::Interleaved => Some(
                "the inputs overlap in time (as captures taken at once on several interfaces do): \
                 their packets were merged by timestamp, as mergecap does; frame numbers stay per file",
            ),
        }
    }
}

/// What reading the inputs gives besides frames, in order.
pub enum MergeEvent<'a> {
    /// Input `file` could not be opened.
    Failed { file: u16, error: CaptureError },
    /// Input `file` was opened; its frames follow (maybe interleaved with other inputs').
    Opened {
        file: u16,
        reader: &'a CaptureReader,
    },
    /// Input `file` gave an error: after a [`CaptureError::Truncated`] the frames before the cut
    /// were given; any error ends the input.
    Error { file: u16, error: CaptureError },
    /// Input `file` overlaps in time more than [`MAX_OPEN`] others open at once: it was opened
    /// only when one of them ended, so its first packets come after later ones of theirs.
    Late { file: u16 },
    /// Input `file` ended.
    Ended {
        file: u16,
        reader: &'a CaptureReader,
    },
}

impl MergeEvent<'_> {
    /// The input it is about.
    pub fn file(&self) -> u16 {
        match self {
            MergeEvent::Failed { file, .. }
            | MergeEvent::Opened { file, .. }
            | MergeEvent::Error { file, .. }
            | MergeEvent::Late { file }
            | MergeEvent::Ended { file, .. } => *file,
        }
    }
}

/// Where [`read_merged`] hands what it reads (a trait, not a closure, so that the frame path is
/// compiled into the reading loop).
pub trait MergeSink {
    /// A frame of input `file`, in the read buffer `block`. False: stop reading.
    fn frame(&mut self, file: u16, frame: &Frame<'_>, block: FrameBlock<'_>) -> bool;
    /// Anything else; `read` is the bytes read from the inputs so far. False: stop reading.
    fn event(&mut self, event: MergeEvent<'_>, read: u64) -> bool;
    /// Every [`PROGRESS_EVERY`] frames: the bytes read from the inputs so far.
    fn progress(&mut self, _read: u64) {}
}

/// Inputs open at once, at most (each holds a read buffer, at least 256 KB, and a file
/// descriptor): beyond it, an input waits for one to end, and says so ([`MergeEvent::Late`]).
pub const MAX_OPEN: usize = 128;

/// Frames between two [`MergeSink::progress`] calls.
pub const PROGRESS_EVERY: u64 = 4096;

/// Opens an input by name; `peek` says it is opened only to read its first timestamp.
pub type Open<'o> = dyn FnMut(&str, bool) -> Result<CaptureReader, CaptureError> + 'o;

/// Reads `paths` in time order (see the module docs), handing every frame and event to `sink`
/// until it says stop. Returns how that order compares with the order given.
pub fn read_merged(paths: &[String], open: &mut Open<'_>, sink: &mut impl MergeSink) -> InputOrder {
    let idx = |i: usize| u16::try_from(i).unwrap_or(u16::MAX);
    if paths.len() <= 1 {
        if let Some(path) = paths.first() {
            match open(path, false) {
                Ok(mut r) => {
                    let opened = MergeEvent::Opened {
                        file: 0,
                        reader: &r,
                    };
                    if sink.event(opened, 0) {
                        read_rest(0, &mut r, 0, sink);
                    }
                }
                Err(error) => {
                    sink.event(MergeEvent::Failed { file: 0, error }, 0);
                }
            }
        }
        return InputOrder::AsGiven;
    }
    // 1. The first timestamp of each input.
    let mut firsts: Vec<(Option<Timestamp>, usize)> = Vec::with_capacity(paths.len());
    let mut kept: Vec<(usize, CaptureReader)> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let stdin = path == "-";
        match open(path, !stdin) {
            Ok(mut r) => {
                firsts.push((r.peek_ts(), i));
                if stdin {
                    kept.push((i, r));
                }
            }
            Err(error) => {
                if !sink.event(
                    MergeEvent::Failed {
                        file: idx(i),
                        error,
                    },
                    0,
                ) {
                    return InputOrder::AsGiven;
                }
            }
        }
    }
    // (`None` sorts first: inputs without a frame say so before the others' frames.)
    firsts.sort();
    let given = firsts.iter().filter(|f| f.0.is_some()).map(|f| f.1);
    let mut order = if given.clone().zip(given.skip(1)).all(|(a, b)| a < b) {
        InputOrder::AsGiven
    } else {
        InputOrder::Reordered
    };
    // 2. Merge.
    let mut pending: VecDeque<(Option<Timestamp>, usize)> = firsts.into();
    let mut active: Vec<(usize, CaptureReader)> = Vec::new();
    let mut ended_bytes: u64 = 0;
    // Frames given while several inputs were open.
    let mut merged: u64 = 0;
    // Inputs that had to wait for one of [`MAX_OPEN`] open inputs to end.
    let mut late: Vec<usize> = Vec::new();
    loop {
        // The earliest next frame among the open inputs (an input about to end or fail first).
        let head = |active: &mut Vec<(usize, CaptureReader)>| {
            active
                .iter_mut()
                .enumerate()
                .map(|(k, (i, r))| (r.peek_ts(), *i, k))
                .min()
        };
        let mut next = head(&mut active);
        // Open every input whose first frame comes before it (with it: after the inputs being
        // read, so a frame cut into the next file of a ring buffer keeps its place).
        while let Some(&(first, i)) = pending.front() {
            let due = match next {
                None => true,
                Some((Some(ts), _, _)) => first.is_none_or(|f| f < ts),
                Some((None, _, _)) => false,
            };
            if !due {
                break;
            }
            if active.len() >= MAX_OPEN {
                // Its packets come before some of the open inputs' and it must wait: said when it
                // is opened.
                if !late.contains(&i) {
                    late.push(i);
                }
                break;
            }
            pending.pop_front();
            let reader = match kept.iter().position(|(k, _)| *k == i) {
                Some(p) => Ok(kept.swap_remove(p).1),
                None => open(paths.get(i).map_or("", String::as_str), false),
            };
            let going = match reader {
                Ok(r) => {
                    let going = sink.event(
                        MergeEvent::Opened {
                            file: idx(i),
                            reader: &r,
                        },
                        0,
                    ) && (!late.contains(&i)
                        || sink.event(MergeEvent::Late { file: idx(i) }, 0));
                    if !active.is_empty() {
                        order = InputOrder::Interleaved;
                    }
                    active.push((i, r));
                    going
                }
                // (Opened a moment ago, but gone since.)
                Err(error) => sink.event(
                    MergeEvent::Failed {
                        file: idx(i),
                        error,
                    },
                    0,
                ),
            };
            if !going {
                return order;
            }
            next = head(&mut active);
        }
        let Some((ts, i, k)) = next else {
            return order;
        };
        if ts.is_none() || active.len() == 1 && pending.is_empty() {
            // Ends or fails now; or the last input left: read it to its end here.
            let (_, mut r) = active.swap_remove(k);
            let going = read_rest(idx(i), &mut r, ended_bytes, sink);
            ended_bytes = ended_bytes.saturating_add(r.bytes_read());
            if !going {
                return order;
            }
            continue;
        }
        merged += 1;
        if merged % PROGRESS_EVERY == 0 {
            let read = active
                .iter()
                .map(|(_, r)| r.bytes_read())
                .fold(ended_bytes, u64::saturating_add);
            sink.progress(read);
        }
        let Some((_, r)) = active.get_mut(k) else {
            return order;
        };
        // (A peeked timestamp: the next call gives that frame.)
        if let Ok(Some((frame, block))) = r.next_frame_in_block() {
            if !sink.frame(idx(i), &frame, block) {
                return order;
            }
        }
    }
}

/// Reads one input (opened already) to its end: its frames, the error that ended it if one did
/// (after a [`CaptureError::Truncated`], the frames before the cut), then its end. False when
/// `sink` said stop.
fn read_rest(file: u16, r: &mut CaptureReader, before: u64, sink: &mut impl MergeSink) -> bool {
    let mut n: u64 = 0;
    loop {
        let going = match r.next_frame_in_block() {
            Ok(Some((frame, block))) => sink.frame(file, &frame, block),
            Ok(None) => break,
            // (An error ends the input: the next call gives the end.)
            Err(error) => {
                let read = before.saturating_add(r.bytes_read());
                sink.event(MergeEvent::Error { file, error }, read)
            }
        };
        if !going {
            return false;
        }
        n += 1;
        if n % PROGRESS_EVERY == 0 {
            sink.progress(before.saturating_add(r.bytes_read()));
        }
    }
    let read = before.saturating_add(r.bytes_read());
    sink.event(MergeEvent::Ended { file, reader: r }, read)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::capture::testutil::{PcapWriter, TempFile};
    use std::path::Path;

    /// A pcap whose frames are at these times (ms), each frame's byte saying which it is.
    fn pcap(times_ms: &[u64]) -> Vec<u8> {
        let mut w = PcapWriter::new(1, false, true);
        for (k, &t) in times_ms.iter().enumerate() {
            w.packet(1_000_000_000_000 + t * 1_000_000, &[k as u8; 20], 20);
        }
        w.finish()
    }

    /// What `read_merged` gives, as text: `f<file>#<number>@<ms>` per frame, and the other events.
    #[derive(Default)]
    struct Log(Vec<String>);

    impl MergeSink for Log {
        fn frame(&mut self, file: u16, f: &Frame<'_>, block: FrameBlock<'_>) -> bool {
            // The bytes are the frame's, in the block given with it.
            assert_eq!(f.data[0] as u64 + 1, f.number);
            assert_eq!(&block.block[block.pos..block.pos + f.data.len()], f.data);
            let ms = (f.ts.0 - 1_000_000_000_000) / 1_000_000;
            self.0.push(format!("f{file}#{}@{ms}", f.number));
            true
        }
        fn event(&mut self, e: MergeEvent<'_>, _: u64) -> bool {
            self.0.push(match e {
                MergeEvent::Failed { file, .. } => format!("failed {file}"),
                MergeEvent::Opened { file, .. } => format!("open {file}"),
                MergeEvent::Error { file, error } => format!("error {file}: {error}"),
                MergeEvent::Late { file } => format!("late {file}"),
                MergeEvent::Ended { file, reader } => {
                    format!("end {file} ({} frames)", reader.stats().frames)
                }
            });
            true
        }
    }

    fn merge(files: &[&Path]) -> (Vec<String>, InputOrder, Vec<(String, bool)>) {
        let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        let mut opened = Vec::new();
        let mut log = Log::default();
        let order = read_merged(
            &paths,
            &mut |p, peek| {
                opened.push((p.to_string(), peek));
                CaptureReader::open(Path::new(p))
            },
            &mut log,
        );
        (log.0, order, opened)
    }

    #[test]
    fn a_single_input_is_read_as_it_is_without_peeking() {
        let a = TempFile::new(".pcap", &pcap(&[5, 3, 9]));
        let (log, order, opened) = merge(&[a.path()]);
        assert_eq!(order, InputOrder::AsGiven);
        assert_eq!(
            log,
            ["open 0", "f0#1@5", "f0#2@3", "f0#3@9", "end 0 (3 frames)"]
        );
        assert_eq!(opened.len(), 1);
        assert!(!opened[0].1);
    }

    /// The files of a ring buffer that wrapped: each is read whole, in time order, one at a time;
    /// a frame cut into the next file at the same instant keeps its place.
    #[test]
    fn files_that_follow_each_other_are_read_in_time_order() {
        let newest = TempFile::new(".pcap", &pcap(&[30, 31]));
        let oldest = TempFile::new(".pcap", &pcap(&[10, 12, 20]));
        let middle = TempFile::new(".pcap", &pcap(&[20, 25]));
        let (log, order, opened) = merge(&[newest.path(), oldest.path(), middle.path()]);
        assert_eq!(order, InputOrder::Reordered);
        assert_eq!(
            log,
            [
                "open 1",
                "f1#1@10",
                "f1#2@12",
                "f1#3@20",
                "end 1 (3 frames)",
                "open 2",
                "f2#1@20",
                "f2#2@25",
                "end 2 (2 frames)",
                "open 0",
                "f0#1@30",
                "f0#2@31",
                "end 0 (2 frames)",
            ]
        );
        // Each opened once to peek, once to read.
        assert_eq!(opened.iter().filter(|o| o.1).count(), 3);
        assert_eq!(opened.iter().filter(|o| !o.1).count(), 3);
        // Given in time order: as given, and the frames in the same order.
        let (again, order, _) = merge(&[oldest.path(), middle.path(), newest.path()]);
        assert_eq!(order, InputOrder::AsGiven);
        let times = |log: &[String]| -> Vec<String> {
            log.iter()
                .filter_map(|l| Some(l.split_once('#')?.1.to_string()))
                .collect()
        };
        assert_eq!(times(&again), times(&log));
    }

    /// Captures that overlap: frames by timestamp, a tie to the file given first; a file's own
    /// order is kept even where its timestamps go backwards.
    #[test]
    fn overlapping_files_are_interleaved_by_timestamp() {
        let a = TempFile::new(".pcap", &pcap(&[10, 20, 15, 40]));
        let b = TempFile::new(".pcap", &pcap(&[12, 20, 30]));
        let (log, order, _) = merge(&[b.path(), a.path()]);
        assert_eq!(order, InputOrder::Interleaved);
        assert_eq!(
            log,
            [
                "open 1",
                "f1#1@10",
                "open 0",
                "f0#1@12",
                "f0#2@20",
                "f1#2@20",
                "f1#3@15",
                "f0#3@30",
                "end 0 (3 frames)",
                "f1#4@40",
                "end 1 (4 frames)",
            ]
        );
    }

    /// A file that cannot be opened, one without packets and one cut short: each said in its
    /// place, the others read as usual.
    #[test]
    fn missing_empty_and_truncated_inputs_are_said() {
        let empty = TempFile::new(".pcap", &pcap(&[]));
        let mut cut = pcap(&[1, 2, 50]);
        cut.truncate(cut.len() - 7);
        let cut = TempFile::new(".pcap", &cut);
        let ok = TempFile::new(".pcap", &pcap(&[3, 60]));
        let missing = Path::new("/nonexistent/tlsautopsy-merge-test.pcap");
        let (log, order, _) = merge(&[missing, ok.path(), empty.path(), cut.path()]);
        assert_eq!(order, InputOrder::Reordered, "{log:?}");
        let text = log.join(" | ");
        let error = log.iter().find(|l| l.starts_with("error 3")).unwrap();
        assert!(error.contains("after 2 complete frames"), "{error}");
        // The cut file ends where its last whole frame was (it had nothing later to give).
        assert_eq!(
            text.replace(error.as_str(), "error 3"),
            "failed 0 | open 2 | end 2 (0 frames) | open 3 | f3#1@1 | f3#2@2 | error 3 | \
             end 3 (2 frames) | open 1 | f1#1@3 | f1#2@60 | end 1 (2 frames)"
        );
    }

    /// More inputs overlapping than may be open at once: the ones beyond wait for one to end,
    /// and say so; every frame still comes, each input's in its order.
    #[test]
    fn inputs_beyond_the_open_limit_wait_and_say_so() {
        let files: Vec<TempFile> = (0..MAX_OPEN as u64 + 2)
            .map(|k| TempFile::new(".pcap", &pcap(&[k, 10_000 + k])))
            .collect();
        let paths: Vec<&Path> = files.iter().map(TempFile::path).collect();
        let (log, order, _) = merge(&paths);
        assert_eq!(order, InputOrder::Interleaved);
        let late: Vec<&String> = log.iter().filter(|l| l.starts_with("late")).collect();
        assert_eq!(
            late,
            [
                &format!("late {MAX_OPEN}"),
                &format!("late {}", MAX_OPEN + 1)
            ]
        );
        assert_eq!(
            log.iter().filter(|l| l.contains('@')).count(),
            2 * (MAX_OPEN + 2)
        );
        // The first late input opens when the first input ends, after every first frame of the
        // open ones and before their second frames.
        let pos = |s: &str| log.iter().position(|l| l == s).unwrap();
        assert!(pos(&format!("late {MAX_OPEN}")) > pos("end 0 (2 frames)"));
        assert!(pos(&format!("f{MAX_OPEN}#1@{MAX_OPEN}")) < pos("f1#2@10001"));
    }

    /// Peeking reads the next frame once: the same frame, number and bytes come next, and the
    /// counts are not doubled; an error peeked comes next too.
    #[test]
    fn peeking_does_not_change_what_comes_next() {
        let mut bytes = pcap(&[7, 8]);
        bytes.truncate(bytes.len() - 3);
        let f = TempFile::new(".pcap", &bytes);
        let mut r = CaptureReader::open(f.path()).unwrap();
        let ts = r.peek_ts().unwrap();
        assert_eq!(r.peek_ts(), Some(ts));
        let (fr, _) = r.next_frame_in_block().unwrap().unwrap();
        assert_eq!((fr.number, fr.ts, fr.data[0]), (1, ts, 0));
        assert_eq!(r.stats().frames, 1);
        assert_eq!(r.peek_ts(), None);
        assert!(matches!(
            r.next_frame_in_block(),
            Err(CaptureError::Truncated { .. })
        ));
        assert!(r.next_frame_in_block().unwrap().is_none());
        assert_eq!((r.stats().frames, r.stats().bytes), (1, 20));
    }
}
