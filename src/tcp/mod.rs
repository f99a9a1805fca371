//! TCP: connection tracking and per-direction reassembly.

/// Which way a byte or packet travels. The client is the side that sent the SYN (or, without a SYN,
/// the side that sent the ClientHello; else the higher port, flagged as a guess).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// Client to server.
    ToServer,
    /// Server to client.
    ToClient,
}

impl Direction {
    /// The other direction.
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
    /// Index 0 for [`Direction::ToServer`], 1 for [`Direction::ToClient`].
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

pub mod assembler;
pub mod conn;

pub use assembler::{Assembler, AssemblerStats, Chunk};
pub use conn::{FrameRef, Ladder, LadderRow, PacketFacts, RoleBasis, SideFacts, TcpConn};
