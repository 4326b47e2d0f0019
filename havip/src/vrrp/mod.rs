//! The VRRP election as a sans-IO state machine.
