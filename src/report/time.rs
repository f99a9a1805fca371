//! Timestamp formatting (RFC 3339, UTC) without a date library.

use crate::capture::Timestamp;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-11-28T20:51:17.123456789Z`.
pub fn rfc3339(ts: Timestamp) -> String {
    let mut buf = [0u8; 30];
    let n = rfc3339_bytes(ts, &mut buf);
    std::str::from_utf8(buf.get(..n).unwrap_or_default())
        .map(str::to_owned)
        .unwrap_or_default()
}

/// "00" to "99", for writing two digits at a time.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// [`rfc3339`] into `buf` (ASCII), returning its length: written two digits at a time, as this runs
/// for every timestamp of every connection's JSON and `format!` cost ten times more.
pub fn rfc3339_bytes(ts: Timestamp, buf: &mut [u8; 30]) -> usize {
    /// Writes `v % 100` as two digits at `at`.
    fn two(buf: &mut [u8; 30], at: usize, v: u64) {
        let i = (v % 100) as usize * 2;
        if let (Some(d), Some(s)) = (buf.get_mut(at..at + 2), PAIRS.get(i..i + 2)) {
            d.copy_from_slice(s);
        }
    }
    let secs = (ts.0 / 1_000_000_000) as i64;
    let nanos = ts.0 % 1_000_000_000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400) as u64;
    *buf = *b"0000-00-00T00:00:00.000000000Z";
    // A u64 of nanoseconds ends in the year 2554: four digits always suffice.
    let y = y.clamp(0, 9999) as u64;
    two(buf, 0, y / 100);
    two(buf, 2, y);
    two(buf, 5, u64::from(m));
    two(buf, 8, u64::from(d));
    two(buf, 11, rem / 3600);
    two(buf, 14, rem % 3600 / 60);
    two(buf, 17, rem % 60);
    if let Some(slot) = buf.get_mut(20) {
        *slot = b'0' + (nanos / 100_000_000) as u8;
    }
    two(buf, 21, nanos / 1_000_000);
    two(buf, 23, nanos / 10_000);
    two(buf, 25, nanos / 100);
    two(buf, 27, nanos);
    buf.len()
}

/// Time of day with microseconds: `20:51:17.123456`.
pub fn clock(ts: Timestamp) -> String {
    let secs = ts.0 / 1_000_000_000;
    let rem = secs % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        (ts.0 % 1_000_000_000) / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digit by digit against `format!` with the same civil date, over 200,000 instants to 2554.
    #[test]
    fn same_text_as_format() {
        let mut z = 0x2545_f491_4f6c_dd1du64;
        for k in 0..200_000u64 {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            let ns = if k % 2 == 0 { z } else { z >> (k % 40) };
            let secs = (ns / 1_000_000_000) as i64;
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let rem = secs.rem_euclid(86_400);
            let want = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60,
                ns % 1_000_000_000
            );
            assert_eq!(rfc3339(Timestamp(ns)), want, "{ns}");
        }
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(Timestamp(0)), "1970-01-01T00:00:00.000000000Z");
        // 2000-02-29T12:34:56.5Z
        assert_eq!(
            rfc3339(Timestamp(951_827_696_500_000_000)),
            "2000-02-29T12:34:56.500000000Z"
        );
        assert_eq!(clock(Timestamp(951_827_696_500_000_000)), "12:34:56.500000");
        assert_eq!(
            rfc3339(Timestamp(u64::MAX)),
            "2554-07-21T23:34:33.709551615Z"
        );
        assert_eq!(
            rfc3339(Timestamp(1_795_900_000_123_456_789)),
            "2026-11-28T21:06:40.123456789Z"
        );
    }
}
