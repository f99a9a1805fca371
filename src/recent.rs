//! A few values remembered by key, for work whose answer depends on its input bytes alone and whose
//! input comes back again and again: a server's certificate chain on every connection to it, a
//! client program's cipher suite list on every ClientHello it sends (that list is what TLS client
//! fingerprints such as JA3 are made of: one per TLS stack, not per connection). Looking a key up
//! compares it with each remembered one, so the memory is kept small, and the least recently used
//! entry makes room for a new one.
//!
//! A leaf: used by [`crate::tls`] and [`crate::report`], imports nothing of the crate.

use std::borrow::Borrow;

/// At most `cap` (key, value) pairs, the most recently used last.
pub struct Recent<K, V> {
    entries: Vec<(K, V)>,
    cap: usize,
}

impl<K, V> Recent<K, V> {
    /// Empty; remembers at most `cap` entries.
    pub const fn new(cap: usize) -> Self {
        Recent {
            entries: Vec::new(),
            cap,
        }
    }

    /// The value remembered for `key`, now the most recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let i = self.entries.iter().rposition(|(k, _)| k.borrow() == key)?;
        let entry = self.entries.remove(i);
        self.entries.push(entry);
        self.entries.last().map(|(_, v)| v)
    }

    /// Remembers `value` for `key` (a key not already there: [`Recent::get`] first), forgetting the
    /// least recently used entry if full.
    pub fn put(&mut self, key: K, value: V) {
        if self.cap == 0 {
            return;
        }
        if self.entries.len() >= self.cap {
            self.entries.remove(0);
        }
        self.entries.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recently_used() {
        let mut r: Recent<Box<[u8]>, u32> = Recent::new(2);
        r.put(Box::from(&b"a"[..]), 1);
        r.put(Box::from(&b"b"[..]), 2);
        // "a" used again, so "b" is the one forgotten for "c".
        assert_eq!(r.get(&b"a"[..]), Some(&1));
        r.put(Box::from(&b"c"[..]), 3);
        assert_eq!(r.get(&b"b"[..]), None);
        assert_eq!(r.get(&b"a"[..]), Some(&1));
        assert_eq!(r.get(&b"c"[..]), Some(&3));
        // Keys are told apart by all their bytes.
        assert_eq!(r.get(&b"cc"[..]), None);
        let mut none: Recent<u8, u8> = Recent::new(0);
        none.put(1, 1);
        assert_eq!(none.get(&1), None);
    }
}
