//! The hard limits as command-line flags (shared by every subcommand that analyses captures), sizes
//! with unit suffixes, and the peak-memory report the tests use.
//!
//! | limit | default | flag |
//! |---|---|---|
//! | connections tracked at once | 200,000 | `--max-connections` |
//! | out-of-order bytes per connection direction | 256 KiB | `--max-buffer-per-direction` |
//! | bytes buffered by all connections together | 256 MiB (at least 1 MiB) | `--max-buffer-total` |
//! | handshake message size | 64 KiB | `--max-handshake-message` |
//! | TLS records and messages kept per connection | 64 | `--max-events` |
//! | IP datagrams waiting for fragments | 1,024 | `--max-ip-fragments` |
//!
//! Each is in [`Options`]; each hit is counted in [`crate::analyze::LimitHits`].

use clap::Args;

use crate::analyze::Options;

/// Limits flags; `#[command(flatten)]` them into a subcommand's arguments.
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Connections tracked at once; beyond it the least recently active are judged early.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub max_connections: usize,
    /// Out-of-order bytes buffered per connection direction; beyond it the holes are skipped as
    /// capture loss. Sizes take K, M, G suffixes (powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "256K", value_parser = parse_size)]
    pub max_buffer_per_direction: usize,
    /// Bytes buffered for reassembly by all connections together (at least 1M); beyond it the
    /// largest holders give up their out-of-order data, then are judged early.
    #[arg(long, value_name = "BYTES", default_value = "256M", value_parser = parse_buffer_total)]
    pub max_buffer_total: usize,
    /// Largest TLS handshake message reassembled (a longer length claim allocates nothing and is
    /// reported as malformed).
    #[arg(long, value_name = "BYTES", default_value = "64K", value_parser = parse_size)]
    pub max_handshake_message: usize,
    /// TLS records and messages kept per connection as evidence; further ones are counted.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_events: usize,
    /// IP datagrams waiting for missing fragments at once; beyond it the oldest is dropped.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_ip_fragments: usize,
}

impl LimitArgs {
    /// Writes the limits into `opts` (each at least 1, or 4 bytes for the handshake message).
    pub fn apply(&self, opts: &mut Options) {
        opts.max_connections = self.max_connections.max(1);
        opts.max_out_of_order = self.max_buffer_per_direction;
        opts.max_buffered_total = self.max_buffer_total;
        opts.max_handshake_message = self.max_handshake_message.max(4);
        opts.max_events = self.max_events;
        opts.fragments.max_datagrams = self.max_ip_fragments.max(1);
    }
}

/// Parses a size: a number of bytes, optionally followed by K, M or G (KiB, MiB, GiB; `KB`, `KiB`
/// and lower case are accepted too).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (examples: 65536, 64K, 256M, 1G)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("{s:?}: unknown unit (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Smallest `--max-buffer-total`: below it, enforcing the limit (which sorts the connections that hold
/// bytes) could run after nearly every packet.
pub const MIN_BUFFER_TOTAL: usize = 1 << 20;

fn parse_buffer_total(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n < MIN_BUFFER_TOTAL {
        return Err(format!(
            "{s:?} is too small: the total buffer must be at least 1M"
        ));
    }
    Ok(n)
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`), when known.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// With `TLSAUTOPSY_REPORT_PEAK_RSS` set in the environment, prints the peak resident memory on
/// standard error (the memory tests read it).
pub fn report_peak_rss() {
    if std::env::var_os("TLSAUTOPSY_REPORT_PEAK_RSS").is_some() {
        if let Some(kib) = peak_rss_kib() {
            eprintln!("tlsautopsy: peak RSS {kib} KiB");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("64kib"), Ok(65536));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_buffer_total("64K").is_err());
        assert_eq!(parse_buffer_total("1M"), Ok(1 << 20));
    }

    #[test]
    fn defaults_match_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            l: LimitArgs,
        }
        let t = T::parse_from(["t"]);
        let mut o = Options::default();
        let d = Options::default();
        t.l.apply(&mut o);
        assert_eq!(o.max_connections, d.max_connections);
        assert_eq!(o.max_out_of_order, d.max_out_of_order);
        assert_eq!(o.max_buffered_total, d.max_buffered_total);
        assert_eq!(o.max_handshake_message, d.max_handshake_message);
        assert_eq!(o.max_events, d.max_events);
        assert_eq!(o.fragments, d.fragments);
    }
}
