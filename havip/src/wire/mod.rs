//! Wire formats: see the module docs of each submodule.

#[cfg(test)]
mod pcap;
