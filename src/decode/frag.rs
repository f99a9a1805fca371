//! Bounded IPv4/IPv6 fragment reassembly.
//!
//! Only datagrams carrying TCP, ICMP or ICMPv6 are collected. The pool holds at most
//! [`FragmentLimits::max_datagrams`] datagrams and [`FragmentLimits::max_bytes`] bytes; when full, the
//! oldest datagram is dropped. Datagrams not completed within [`FragmentLimits::timeout_ns`] of capture
//! time are dropped too. Every fragment thrown away is counted.

use std::collections::HashMap;
use std::net::IpAddr;

use super::IpInfo;

/// Bounds on the fragment reassembly pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragmentLimits {
    /// Most datagrams waiting for fragments at once.
    pub max_datagrams: usize,
    /// Most bytes buffered for waiting datagrams, all together.
    pub max_bytes: usize,
    /// Capture time after which an incomplete datagram is dropped, in nanoseconds.
    pub timeout_ns: u64,
}

impl Default for FragmentLimits {
    fn default() -> Self {
        FragmentLimits {
            max_datagrams: 1024,
            max_bytes: 8 * 1024 * 1024,
            timeout_ns: 60_000_000_000,
        }
    }
}

/// Largest reassembled payload (the IP length fields are 16 bits).
const MAX_DATAGRAM: usize = 65_535;
/// Most disjoint pieces one datagram may be in before we give up on it.
const MAX_PIECES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

#[derive(Debug)]
struct Pending {
    data: Vec<u8>,
    /// Received byte ranges, sorted and disjoint.
    have: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment arrived.
    total: Option<usize>,
    /// IP facts of the first fragment (offset 0), once seen.
    info: Option<IpInfo>,
    fragments: u64,
    last_ts: u64,
    order: u64,
}

/// What adding a fragment did.
#[derive(Debug)]
pub(crate) enum FragResult {
    /// Stored; the datagram is not complete yet.
    Pending,
    /// The datagram is complete.
    Complete {
        info: IpInfo,
        proto: u8,
        payload: Vec<u8>,
    },
    /// The fragment was thrown away (limits, or inconsistent with the others).
    Dropped,
}

#[derive(Debug, Default)]
pub(crate) struct FragCounts {
    pub datagrams_reassembled: u64,
    pub fragments_reassembled: u64,
    pub fragments_dropped: u64,
    /// Of those, fragments dropped because the pool was full ([`FragmentLimits`]).
    pub fragments_dropped_limit: u64,
}

#[derive(Debug)]
pub(crate) struct Reassembler {
    limits: FragmentLimits,
    pending: HashMap<FragKey, Pending>,
    bytes: usize,
    order: u64,
    last_expiry: u64,
    pub counts: FragCounts,
}

impl Reassembler {
    pub(crate) fn new(limits: FragmentLimits) -> Self {
        Reassembler {
            limits,
            pending: HashMap::new(),
            bytes: 0,
            order: 0,
            last_expiry: 0,
            counts: FragCounts::default(),
        }
    }

    /// Datagrams waiting for more fragments.
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Drops every waiting datagram, counting its fragments as dropped.
    pub(crate) fn clear(&mut self) {
        let dropped: u64 = self.pending.values().map(|p| p.fragments).sum();
        self.counts.fragments_dropped = self.counts.fragments_dropped.saturating_add(dropped);
        self.pending.clear();
        self.bytes = 0;
    }

    fn remove(&mut self, key: &FragKey) -> Option<Pending> {
        let p = self.pending.remove(key)?;
        self.bytes = self.bytes.saturating_sub(p.data.len());
        Some(p)
    }

    fn drop_datagram(&mut self, key: &FragKey) {
        if let Some(p) = self.remove(key) {
            self.counts.fragments_dropped =
                self.counts.fragments_dropped.saturating_add(p.fragments);
        }
    }

    /// Drops a datagram because of the pool limits.
    fn drop_for_limit(&mut self, key: &FragKey) {
        if let Some(p) = self.remove(key) {
            self.counts.fragments_dropped =
                self.counts.fragments_dropped.saturating_add(p.fragments);
            self.counts.fragments_dropped_limit = self
                .counts
                .fragments_dropped_limit
                .saturating_add(p.fragments);
        }
    }

    fn dropped_for_limit(&mut self) -> FragResult {
        self.counts.fragments_dropped_limit = self.counts.fragments_dropped_limit.saturating_add(1);
        self.dropped()
    }

    fn drop_oldest(&mut self, except: &FragKey) -> bool {
        let oldest = self
            .pending
            .iter()
            .filter(|(k, _)| *k != except)
            .min_by_key(|(_, p)| p.order)
            .map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.drop_for_limit(&k);
                true
            }
            None => false,
        }
    }

    fn expire(&mut self, now: u64) {
        // At most once per second of capture time.
        if now.saturating_sub(self.last_expiry) < 1_000_000_000 || self.pending.is_empty() {
            return;
        }
        self.last_expiry = now;
        let timeout = self.limits.timeout_ns;
        let old: Vec<FragKey> = self
            .pending
            .iter()
            .filter(|(_, p)| now.saturating_sub(p.last_ts) > timeout)
            .map(|(k, _)| *k)
            .collect();
        for k in old {
            self.drop_datagram(&k);
        }
    }

    fn dropped(&mut self) -> FragResult {
        self.counts.fragments_dropped = self.counts.fragments_dropped.saturating_add(1);
        FragResult::Dropped
    }

    /// Adds one fragment: `offset` in bytes into the datagram's payload, `more` the More Fragments flag.
    pub(crate) fn add(
        &mut self,
        key: FragKey,
        info: IpInfo,
        offset: usize,
        more: bool,
        data: &[u8],
        now: u64,
    ) -> FragResult {
        self.expire(now);
        let Some(end) = offset
            .checked_add(data.len())
            .filter(|&e| e <= MAX_DATAGRAM)
        else {
            return self.dropped();
        };
        if end > self.limits.max_bytes {
            self.drop_for_limit(&key);
            return self.dropped_for_limit();
        }
        if !self.pending.contains_key(&key) {
            if self.pending.len() >= self.limits.max_datagrams && !self.drop_oldest(&key) {
                return self.dropped_for_limit();
            }
            self.order = self.order.saturating_add(1);
            self.pending.insert(
                key,
                Pending {
                    data: Vec::new(),
                    have: Vec::new(),
                    total: None,
                    info: None,
                    fragments: 0,
                    last_ts: now,
                    order: self.order,
                },
            );
        }
        // Consistency with what we have: the last fragment fixes the length.
        let (old_len, total) = match self.pending.get(&key) {
            Some(p) => (p.data.len(), p.total),
            None => return self.dropped(),
        };
        let inconsistent = match total {
            Some(t) => end > t || (!more && end != t),
            None => !more && end < old_len,
        };
        if inconsistent {
            self.drop_datagram(&key);
            return self.dropped();
        }
        // Memory budget.
        let grow = end.saturating_sub(old_len);
        while self.bytes.saturating_add(grow) > self.limits.max_bytes {
            if !self.drop_oldest(&key) {
                self.drop_for_limit(&key);
                return self.dropped_for_limit();
            }
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return self.dropped();
        };
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        self.bytes = self.bytes.saturating_add(grow);
        if let Some(dst) = p.data.get_mut(offset..end) {
            dst.copy_from_slice(data);
        }
        if !more {
            p.total = Some(end);
        }
        if offset == 0 {
            p.info = Some(info);
        }
        p.fragments = p.fragments.saturating_add(1);
        p.last_ts = now;
        if end > offset {
            merge(&mut p.have, offset, end);
        }
        let too_many_pieces = p.have.len() > MAX_PIECES;
        let complete = p.total.is_some_and(|t| match p.have.as_slice() {
            [(0, e)] => *e == t,
            [] => t == 0,
            _ => false,
        });
        if too_many_pieces {
            self.drop_datagram(&key);
            return FragResult::Dropped;
        }
        if !complete {
            return FragResult::Pending;
        }
        let Some(mut p) = self.remove(&key) else {
            return self.dropped();
        };
        self.counts.datagrams_reassembled = self.counts.datagrams_reassembled.saturating_add(1);
        self.counts.fragments_reassembled = self
            .counts
            .fragments_reassembled
            .saturating_add(p.fragments);
        p.data.truncate(p.total.unwrap_or(0));
        FragResult::Complete {
            info: p.info.unwrap_or(info),
            proto: key.proto,
            payload: p.data,
        }
    }
}

/// Adds `[start, end)` to sorted disjoint ranges, merging overlapping and touching ones.
fn merge(ranges: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    let mut new = (start, end);
    let mut out = Vec::with_capacity(ranges.len().saturating_add(1));
    let mut placed = false;
    for &(s, e) in ranges.iter() {
        if e < new.0 {
            out.push((s, e));
        } else if s > new.1 {
            if !placed {
                out.push(new);
                placed = true;
            }
            out.push((s, e));
        } else {
            new = (new.0.min(s), new.1.max(e));
        }
    }
    if !placed {
        out.push(new);
    }
    *ranges = out;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn info() -> IpInfo {
        IpInfo {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            ttl: 64,
            ip_id: Some(7),
            dont_fragment: false,
        }
    }

    fn key(id: u32) -> FragKey {
        FragKey {
            src: Ipv4Addr::new(10, 0, 0, 1).into(),
            dst: Ipv4Addr::new(10, 0, 0, 2).into(),
            id,
            proto: 6,
        }
    }

    #[test]
    fn merge_ranges() {
        let mut r = vec![];
        merge(&mut r, 10, 20);
        merge(&mut r, 30, 40);
        merge(&mut r, 0, 5);
        assert_eq!(r, vec![(0, 5), (10, 20), (30, 40)]);
        merge(&mut r, 5, 10);
        assert_eq!(r, vec![(0, 20), (30, 40)]);
        merge(&mut r, 15, 35);
        assert_eq!(r, vec![(0, 40)]);
    }

    #[test]
    fn out_of_order_and_overlapping() {
        let mut r = Reassembler::new(FragmentLimits::default());
        let data: Vec<u8> = (0..100u8).collect();
        assert!(matches!(
            r.add(key(1), info(), 64, false, &data[64..], 0),
            FragResult::Pending
        ));
        assert!(matches!(
            r.add(key(1), info(), 24, true, &data[24..72], 0),
            FragResult::Pending
        ));
        match r.add(key(1), info(), 0, true, &data[..32], 0) {
            FragResult::Complete { payload, proto, .. } => {
                assert_eq!(payload, data);
                assert_eq!(proto, 6);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.pending(), 0);
        assert_eq!(r.counts.fragments_reassembled, 3);
        assert_eq!(r.counts.datagrams_reassembled, 1);
    }

    #[test]
    fn limits_drop_the_oldest() {
        let mut r = Reassembler::new(FragmentLimits {
            max_datagrams: 2,
            max_bytes: 1000,
            timeout_ns: 10,
        });
        r.add(key(1), info(), 0, true, &[0; 8], 0);
        r.add(key(2), info(), 0, true, &[0; 8], 0);
        r.add(key(3), info(), 0, true, &[0; 8], 0);
        assert_eq!(r.pending(), 2);
        assert_eq!(r.counts.fragments_dropped, 1);
        assert_eq!(r.counts.fragments_dropped_limit, 1);
        // Byte budget: a 995-byte fragment evicts the others.
        r.add(key(4), info(), 0, true, &[0; 995], 0);
        assert_eq!(r.pending(), 1);
        assert_eq!(r.counts.fragments_dropped, 3);
        assert_eq!(r.counts.fragments_dropped_limit, 3);
        // Too big on its own.
        assert!(matches!(
            r.add(key(5), info(), 0, true, &[0; 1001], 0),
            FragResult::Dropped
        ));
        assert!(matches!(
            r.add(key(6), info(), 65_000, true, &[0; 1000], 0),
            FragResult::Dropped
        ));
        // Timeout.
        r.add(key(7), info(), 8, true, &[0; 8], 5_000_000_000);
        assert_eq!(r.pending(), 1);
        r.clear();
        assert_eq!(r.pending(), 0);
    }

    #[test]
    fn inconsistent_lengths_drop_the_datagram() {
        let mut r = Reassembler::new(FragmentLimits::default());
        r.add(key(1), info(), 0, false, &[0; 16], 0); // complete by itself
        r.add(key(2), info(), 16, false, &[0; 16], 0);
        assert!(matches!(
            r.add(key(2), info(), 24, true, &[0; 16], 0),
            FragResult::Dropped
        ));
        assert_eq!(r.pending(), 0);
    }
}
