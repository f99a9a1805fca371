//! tlsautopsy: finds where a TLS handshake died and who killed it.
//!
//! Data flows one way, and each module imports only from those to its left:
//!
//! ```text
//! capture -> decode -> tcp -> tls -> verdict -> report -> (cli in main.rs)
//! ```
//!
//! - [`capture`] reads pcap and pcapng files into [`capture::Frame`]s (frame numbers as Wireshark counts them).
//! - [`decode`] turns a frame into a [`decode::Decoded`] packet: link layer, IPv4/IPv6, TCP, ICMP errors.
//! - [`tcp`] tracks connections, reassembles each direction and records the TCP facts verdicts need.
//! - [`tls`] observes the reassembled byte streams: TLS records, handshake messages, alerts, HTTP instead of TLS.
//! - [`verdict`] turns one connection's facts into exactly one outcome, a cause, and the evidence.
//! - [`report`] prints verdicts as text (with a ladder diagram) or JSON lines, an HTML report, and the
//!   evidence pcapng.
//! - [`bundle`] puts the evidence for a support case together (`--report`, `--evidence`, `bundle`).
//! - [`run`] reads the inputs and drives the analysis; [`shard`] does it with several threads
//!   (`--threads`), [`progress`] shows how far it got.
//! - [`live`] runs the same pipeline on packets captured from network interfaces (`tlsautopsy live`).
//! - [`probe`] connects to an endpoint, sends real ClientHellos and explains what came back, with
//!   its own captured packets through the same pipeline (`tlsautopsy probe`).
//! - [`addr`] writes addresses as text (for the verdicts and the reports); [`recent`] remembers the
//!   answers to work that comes back with the same input (certificates, cipher suite lists).
#![forbid(unsafe_code)]
// The module docs explain the design down to private items (read them with
// `cargo doc --document-private-items`); linking to those from public docs is deliberate.
#![allow(rustdoc::private_intra_doc_links)]

pub mod addr;
pub mod analyze;
pub mod bundle;
pub mod capture;
pub mod decode;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod live;
pub mod probe;
pub mod progress;
pub mod recent;
pub mod report;
pub mod run;
pub mod shard;
pub mod tcp;
pub mod tls;
pub mod verdict;
