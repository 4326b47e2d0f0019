//! BFD (RFC 5880, asynchronous mode; RFC 5881, single hop over UDP), sans-IO: the Control packet
//! ([`ControlPacket`]) and one session's state machine ([`Session`]). The daemon owns the
//! sockets, the clock, the discriminators and the matching of packets to sessions.

mod packet;
mod session;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod vector_tests;

pub use packet::{ControlPacket, Diag, Malformed, State, CONTROL_LEN, CONTROL_PORT, SOURCE_PORTS};
pub use session::{Event, Ignored, Negotiated, Session, SessionConfig, SessionCounters};
