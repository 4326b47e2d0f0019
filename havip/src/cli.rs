//! The command line: `havip run`, and the parsers that turn bad input into errors that say
//! what was wrong and what to type instead.

use std::{net::Ipv4Addr, str::FromStr};

use clap::{Args, Parser, Subcommand};

use crate::dataplane::ModeChoice;

#[derive(Parser, Debug)]
#[command(
    name = "havip",
    version,
    about = "VRRP with an XDP data plane: keeps a virtual IP alive"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: attach the XDP program, own or elect for the VIPs, until SIGINT/SIGTERM.
    Run(RunArgs),
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The interface the VIPs live on.
    #[arg(long, value_name = "IFACE")]
    pub iface: String,
    /// A virtual IP with its prefix length, e.g. 10.0.0.100/24 (repeat for more).
    #[arg(long = "vip", value_name = "ADDR/LEN", required = true)]
    pub vips: Vec<Vip>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = ModeChoice::Auto)]
    pub xdp_mode: ModeChoice,
}

/// An IPv4 VIP and its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl FromStr for Vip {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let hint = "expected an IPv4 address with a prefix length, e.g. 10.0.0.100/24";
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} has no prefix length: {hint}"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address: {hint}"))?;
        let prefix_len: u8 = len
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| format!("{len:?} is not a prefix length from 0 to 32: {hint}"))?;
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() || addr.is_loopback()
        {
            return Err(format!(
                "{addr} cannot be a VIP: it must be a unicast address"
            ));
        }
        Ok(Vip { addr, prefix_len })
    }
}

impl std::fmt::Display for Vip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vip_parses_address_and_prefix() {
        assert_eq!(
            "10.99.0.100/24".parse::<Vip>(),
            Ok(Vip {
                addr: Ipv4Addr::new(10, 99, 0, 100),
                prefix_len: 24
            })
        );
    }

    #[test]
    fn bad_vips_say_what_is_wrong() {
        for (input, says) in [
            ("10.99.0.100", "no prefix length"),
            ("10.99.0.300/24", "not an IPv4 address"),
            ("10.99.0.1/33", "not a prefix length"),
            ("10.99.0.1/x", "not a prefix length"),
            ("224.0.0.18/32", "must be a unicast address"),
            ("0.0.0.0/0", "must be a unicast address"),
        ] {
            let err = input.parse::<Vip>().unwrap_err();
            assert!(err.contains(says), "{input}: {err}");
        }
    }

    #[test]
    fn run_requires_iface_and_vip() {
        assert!(Cli::try_parse_from(["havip", "run", "--iface", "eth0"]).is_err());
        assert!(Cli::try_parse_from(["havip", "run", "--vip", "10.0.0.1/24"]).is_err());
        let cli = Cli::try_parse_from([
            "havip",
            "run",
            "--iface",
            "eth0",
            "--vip",
            "10.0.0.1/24",
            "--vip",
            "10.0.0.2/24",
            "--xdp-mode",
            "skb",
        ])
        .unwrap();
        let Command::Run(run) = cli.command;
        assert_eq!(run.vips.len(), 2);
        assert_eq!(run.xdp_mode, ModeChoice::Skb);
    }
}
