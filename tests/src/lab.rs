//! Network-namespace labs (filled in below).
