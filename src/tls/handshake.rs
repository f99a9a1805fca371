//! Handshake-message reassembly across records (tls-parser's record parser does not defragment).
//!
//! Bytes of plaintext handshake records are pushed in stream order; a message is returned once its
//! last byte arrived. Only the message types we decode (ClientHello, ServerHello, HelloRetryRequest,
//! Certificate) are buffered, the others are counted and skipped. A length claim above the limit
//! ([`MAX_HANDSHAKE_MESSAGE`] unless set with [`Reassembler::set_max`]) is reported before anything is
//! allocated, and the buffer of a message within the limit grows with the bytes that actually arrive
//! (a 60 KB claim followed by nothing allocates nothing more than its header).

use super::MAX_HANDSHAKE_MESSAGE;

/// A complete handshake message.
#[derive(Debug)]
pub struct HsMessage {
    /// Handshake type.
    pub typ: u8,
    /// Stream offset of its first byte (the handshake header).
    pub start: u64,
    /// Stream offset one past its last byte.
    pub end: u64,
    /// Number of records that carried it.
    pub records: u32,
    /// Record-layer version of the first record that carried it.
    pub record_version: u16,
    /// The whole message (header included) when its type is decoded and no byte of it was lost.
    pub bytes: Option<Vec<u8>>,
    /// Part of it fell into a capture gap.
    pub lost: bool,
}

/// What [`Reassembler::push`] produced besides consuming bytes.
#[derive(Debug)]
pub enum Step {
    /// A message completed.
    Message(HsMessage),
    /// A message header claims more than the limit (`limit`, header included) allows.
    TooLong {
        typ: u8,
        len: usize,
        start: u64,
        limit: usize,
    },
}

/// Whether a message of this type is buffered for decoding.
fn keep(typ: u8) -> bool {
    matches!(typ, 1 | 2 | 6 | 11)
}

/// Per-direction reassembly state. Holds at most one partial message (no more than the limit, and no
/// more than the bytes received of it).
#[derive(Debug)]
pub struct Reassembler {
    /// Largest message accepted, header included.
    max: usize,
    hdr: [u8; 4],
    hdr_len: usize,
    start: u64,
    body_len: usize,
    got: usize,
    buf: Option<Vec<u8>>,
    records: u32,
    last_record: u64,
    record_version: u16,
    lost: bool,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler {
            max: MAX_HANDSHAKE_MESSAGE,
            hdr: [0; 4],
            hdr_len: 0,
            start: 0,
            body_len: 0,
            got: 0,
            buf: None,
            records: 0,
            last_record: 0,
            record_version: 0,
            lost: false,
        }
    }
}

impl Reassembler {
    /// Sets the largest message accepted, header included (at least 4 bytes).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(4);
    }

    /// Bytes allocated for the partial message.
    pub fn buffered(&self) -> usize {
        self.buf.as_ref().map_or(0, Vec::capacity)
    }

    /// Forgets any partial message (the limit stays).
    pub fn reset(&mut self) {
        let max = self.max;
        *self = Reassembler::default();
        self.max = max;
    }

    fn touch(&mut self, rec_start: u64, rec_version: u16) {
        if self.records == 0 {
            self.records = 1;
            self.record_version = rec_version;
        } else if self.last_record != rec_start {
            self.records = self.records.saturating_add(1);
        }
        self.last_record = rec_start;
    }

    fn finish(&mut self, end: u64) -> HsMessage {
        let msg = HsMessage {
            typ: self.hdr[0],
            start: self.start,
            end,
            records: self.records,
            record_version: self.record_version,
            bytes: self.buf.take(),
            lost: self.lost,
        };
        self.reset();
        msg
    }

    /// Feeds handshake bytes that start at stream offset `offset`, taken from the record that starts
    /// at `rec_start` with record version `rec_version`. Consumes bytes up to the end of at most one
    /// message and returns how many it consumed, with the message if one completed.
    pub fn push(
        &mut self,
        data: &[u8],
        offset: u64,
        rec_start: u64,
        rec_version: u16,
    ) -> (usize, Option<Step>) {
        let mut used = 0usize;
        if self.hdr_len < 4 {
            if self.hdr_len == 0 {
                self.start = offset;
            }
            let take = 4usize.saturating_sub(self.hdr_len).min(data.len());
            for (slot, &b) in self.hdr.iter_mut().skip(self.hdr_len).zip(data.iter()) {
                *slot = b;
            }
            if take > 0 {
                self.touch(rec_start, rec_version);
            }
            self.hdr_len = self.hdr_len.saturating_add(take);
            used = take;
            if self.hdr_len < 4 {
                return (used, None);
            }
            let [typ, a, b, c] = self.hdr;
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len.saturating_add(4) > self.max {
                let start = self.start;
                let limit = self.max;
                self.reset();
                return (
                    used,
                    Some(Step::TooLong {
                        typ,
                        len,
                        start,
                        limit,
                    }),
                );
            }
            self.body_len = len;
            self.got = 0;
            // The claimed length is not trusted for allocation: the buffer grows as bytes arrive.
            self.buf = keep(typ).then(|| self.hdr.to_vec());
        }
        let rest = data.get(used..).unwrap_or_default();
        let take = self.body_len.saturating_sub(self.got).min(rest.len());
        if take > 0 {
            self.touch(rec_start, rec_version);
            let total = self.body_len.saturating_add(4);
            if let (Some(buf), Some(chunk)) = (self.buf.as_mut(), rest.get(..take)) {
                grow_within(buf, take, total);
                buf.extend_from_slice(chunk);
            }
            self.got = self.got.saturating_add(take);
            used = used.saturating_add(take);
        }
        if self.got == self.body_len {
            let end = offset.saturating_add(used as u64);
            return (used, Some(Step::Message(self.finish(end))));
        }
        (used, None)
    }

    /// `len` bytes ending at stream offset `gap_end` are missing. Succeeds when they all fall inside
    /// the body of the current message (whose length is known): its content is dropped and the
    /// message is returned (flagged `lost`) if the gap reached its end. Fails when message framing
    /// is lost (the gap covers a message header or crosses a message boundary).
    pub fn skip(&mut self, len: u64, gap_end: u64) -> Result<Option<HsMessage>, ()> {
        if len == 0 {
            return Ok(None);
        }
        if self.hdr_len < 4 {
            return Err(());
        }
        let need = self.body_len.saturating_sub(self.got) as u64;
        if len > need {
            return Err(());
        }
        self.got = self
            .got
            .saturating_add(usize::try_from(len).map_err(|_| ())?);
        self.buf = None;
        self.lost = true;
        if self.got == self.body_len {
            return Ok(Some(self.finish(gap_end)));
        }
        Ok(None)
    }
}

/// Makes room for `more` bytes in `buf`, doubling its capacity as a `Vec` would but never beyond
/// `total` (the message's claimed size, itself within the limit): capacity stays <= `total` and
/// <= twice the bytes received.
fn grow_within(buf: &mut Vec<u8>, more: usize, total: usize) {
    let need = buf.len().saturating_add(more);
    if need <= buf.capacity() {
        return;
    }
    let target = buf
        .capacity()
        .saturating_mul(2)
        .max(need)
        .min(total.max(need));
    buf.reserve_exact(target.saturating_sub(buf.len()));
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn split_messages_and_records() {
        let mut r = Reassembler::default();
        // Two messages: type 14 len 0, type 11 len 3, split in odd places across two records.
        let rec1 = [14u8, 0, 0, 0, 11, 0];
        let rec2 = [0, 3, 1, 2, 3];
        let (u, s) = r.push(&rec1, 5, 0, 0x0303);
        assert_eq!(u, 4);
        let Some(Step::Message(m)) = s else { panic!() };
        assert_eq!((m.typ, m.start, m.end, m.records), (14, 5, 9, 1));
        let (u, s) = r.push(&rec1[4..], 9, 0, 0x0303);
        assert_eq!((u, s.is_none()), (2, true));
        let (u, s) = r.push(&rec2, 16, 11, 0x0303);
        assert_eq!(u, 5);
        let Some(Step::Message(m)) = s else { panic!() };
        assert_eq!((m.typ, m.start, m.end, m.records), (11, 9, 21, 2));
        assert_eq!(m.bytes.unwrap(), vec![11, 0, 0, 3, 1, 2, 3]);
    }

    #[test]
    fn too_long_is_refused() {
        let mut r = Reassembler::default();
        let (u, s) = r.push(&[1, 0xff, 0xff, 0xff, 0], 0, 0, 0x0301);
        assert_eq!(u, 4);
        assert!(matches!(
            s,
            Some(Step::TooLong {
                typ: 1,
                len: 0xffffff,
                ..
            })
        ));
        // A configured limit applies to the header-included size and survives a reset.
        r.set_max(100);
        let (_, s) = r.push(&[11, 0, 0, 97], 0, 0, 0x0303);
        assert!(matches!(s, Some(Step::TooLong { limit: 100, .. })));
        let (_, s) = r.push(&[11, 0, 0, 96], 4, 0, 0x0303);
        assert!(s.is_none());
    }

    #[test]
    fn a_length_claim_allocates_only_what_arrives() {
        let mut r = Reassembler::default();
        // A ClientHello claiming 60,000 bytes, of which 10 arrive.
        let (_, s) = r.push(
            &[1, 0, 0xea, 0x60, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            0,
            0,
            0x0301,
        );
        assert!(s.is_none());
        assert!(r.buffered() < 1024, "{} bytes allocated", r.buffered());
        // The buffer grows with the bytes, never past the claimed size.
        let chunk = vec![0u8; 1000];
        let mut done = None;
        let mut off = 14u64;
        while done.is_none() {
            let (u, s) = r.push(&chunk, off, 0, 0x0301);
            off += u as u64;
            assert!(r.buffered() <= 60_004);
            if let Some(Step::Message(m)) = s {
                done = Some(m);
            }
        }
        let m = done.unwrap();
        assert_eq!(m.bytes.unwrap().len(), 60_004);
    }

    #[test]
    fn gap_inside_body() {
        let mut r = Reassembler::default();
        r.push(&[11, 0, 0, 10, 1, 2], 0, 0, 0x0303);
        assert!(r.skip(4, 10).unwrap().is_none());
        let (_, s) = r.push(&[7, 8, 9, 10], 10, 0, 0x0303);
        let Some(Step::Message(m)) = s else { panic!() };
        assert!(m.lost && m.bytes.is_none());
        assert!(r.skip(1, 20).is_err());
    }
}
