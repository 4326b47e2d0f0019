//! keepalived's route lines (`virtual_routes`), read for keepalived.conf and TOML alike. The
//! words are `ip route`'s; havip reads the ones below and refuses the others by name, so a
//! route is never added differently from what the file says.

use std::net::IpAddr;

use crate::model::{RouteKind, RouteSpec, RuleAction, RuleSpec, StaticAddress, VipSpec};

/// A reader of one line's words: the value, or the index of the word at fault and why.
pub type LineParser<T> = fn(&[&str]) -> Result<T, (usize, String)>;

/// The words havip reads, for the error that names an unknown one.
pub const READ: &str =
    "[blackhole|unreachable|prohibit|throw] [to] PREFIX|default, via|gw ADDRESS, \
     dev|oif IFACE, src ADDRESS, table N|main|local|default, metric|priority|preference N, \
     scope host|link|global|N, proto|protocol boot|static|kernel|N, onlink, no_track";

/// Reads one route line. The error carries the index of the word it is about.
pub fn parse(words: &[&str]) -> Result<RouteSpec, (usize, String)> {
    let mut kind = RouteKind::Unicast;
    let mut dest: Option<(Option<IpAddr>, Option<u8>)> = None; // None address: `default`
    let mut route = RouteSpec {
        kind,
        dest: IpAddr::from([0, 0, 0, 0]),
        prefix_len: 0,
        via: None,
        dev: None,
        src: None,
        table: None,
        metric: None,
        scope: None,
        protocol: None,
        onlink: false,
    };
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let value = |what: &str| -> Result<&str, (usize, String)> {
            words
                .get(i + 1)
                .copied()
                .ok_or((i, format!("{w} needs {what}")))
        };
        let addr = |what: &str| -> Result<IpAddr, (usize, String)> {
            let v = value(what)?;
            v.parse()
                .map_err(|_| (i + 1, format!("{w} {v}: not an IP address")))
        };
        let number = |max: u64| -> Result<u64, (usize, String)> {
            let v = value("a number")?;
            v.parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or((i + 1, format!("{w} {v}: not a number from 0 to {max}")))
        };
        let mut step = 2;
        match w {
            "blackhole" | "unreachable" | "prohibit" | "throw" if i == 0 => {
                kind = match w {
                    "blackhole" => RouteKind::Blackhole,
                    "unreachable" => RouteKind::Unreachable,
                    "prohibit" => RouteKind::Prohibit,
                    _ => RouteKind::Throw,
                };
                step = 1;
            }
            "to" => {
                dest = Some(prefix(value("a prefix")?).map_err(|e| (i + 1, e))?);
            }
            "via" | "gw" => route.via = Some(addr("an address")?),
            "dev" | "oif" => route.dev = Some(value("an interface name")?.to_string()),
            "src" => route.src = Some(addr("an address")?),
            "table" => {
                route.table = Some(match value("a table")? {
                    "main" => 254,
                    "local" => 255,
                    "default" => 253,
                    _ => number(u64::from(u32::MAX))? as u32,
                })
            }
            "metric" | "priority" | "preference" => {
                route.metric = Some(number(u64::from(u32::MAX))? as u32);
            }
            "scope" => {
                route.scope = Some(match value("a scope")? {
                    "host" => 254,
                    "link" => 253,
                    "global" | "universe" => 0,
                    "site" => 200,
                    "nowhere" => 255,
                    _ => number(255)? as u8,
                })
            }
            "proto" | "protocol" => {
                route.protocol = Some(match value("a protocol")? {
                    "kernel" => 2,
                    "boot" => 3,
                    "static" => 4,
                    _ => number(255)? as u8,
                })
            }
            "onlink" => {
                route.onlink = true;
                step = 1;
            }
            // keepalived: do not watch the route. havip does not watch routes at all.
            "no_track" => step = 1,
            _ if dest.is_none() => {
                dest = Some(prefix(w).map_err(|e| (i, e))?);
                step = 1;
            }
            _ => {
                return Err((
                    i,
                    format!("route option {w} is not implemented (havip reads {READ})"),
                ))
            }
        }
        i += step;
    }
    route.kind = kind;
    let Some((addr, len)) = dest else {
        return Err((0, "a route needs a destination prefix (or default)".into()));
    };
    // `default` takes its family from the other addresses (IPv4 when there are none).
    let family_of = route.via.or(route.src);
    let addr = match (addr, family_of) {
        (Some(a), _) => a,
        (None, Some(IpAddr::V6(_))) => IpAddr::from([0u16; 8]),
        (None, _) => IpAddr::from([0, 0, 0, 0]),
    };
    let v4 = addr.is_ipv4();
    for (what, a) in [("via", route.via), ("src", route.src)] {
        if a.is_some_and(|a| a.is_ipv4() != v4) {
            return Err((
                0,
                format!("{what} is not of the destination's address family"),
            ));
        }
    }
    if kind == RouteKind::Unicast && route.via.is_none() && route.dev.is_none() {
        return Err((0, "a route needs via or dev".into()));
    }
    if kind != RouteKind::Unicast && (route.via.is_some() || route.dev.is_some()) {
        return Err((
            0,
            "a blackhole, unreachable, prohibit or throw route has no via or dev".into(),
        ));
    }
    let max = if v4 { 32 } else { 128 };
    if len.is_some_and(|l| l > max) {
        return Err((
            0,
            format!("prefix length {} is over {max}", len.unwrap_or(0)),
        ));
    }
    route.dest = addr;
    route.prefix_len = len.unwrap_or(max);
    Ok(route)
}

/// The words havip reads in a rule.
pub const RULE_READ: &str = "inet|inet6, not, from PREFIX|all, to PREFIX|all, iif|dev IFACE, \
     oif IFACE, fwmark N, tos N, priority|preference|pref N, table|lookup N|main|local|default, \
     goto N, blackhole, unreachable, prohibit, no_track";

/// Reads one `virtual_rules` / `static_rules` line. The error carries the word's index.
pub fn parse_rule(words: &[&str]) -> Result<RuleSpec, (usize, String)> {
    let mut rule = RuleSpec {
        v6: false,
        from: None,
        to: None,
        iif: None,
        oif: None,
        fwmark: None,
        tos: None,
        priority: None,
        action: RuleAction::Table(254),
        invert: false,
    };
    let (mut family, mut action) = (None::<bool>, None);
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        let value = || -> Result<&str, (usize, String)> {
            words
                .get(i + 1)
                .copied()
                .ok_or((i, format!("{w} needs a value")))
        };
        let number = |max: u64| -> Result<u64, (usize, String)> {
            let v = value()?;
            let n = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            };
            n.filter(|n| *n <= max)
                .ok_or((i + 1, format!("{w} {v}: not a number from 0 to {max}")))
        };
        let selector = || -> Result<Option<(IpAddr, u8)>, (usize, String)> {
            let v = value()?;
            if v == "all" {
                return Ok(None);
            }
            match prefix(v).map_err(|e| (i + 1, e))? {
                (Some(a), len) => {
                    let max = if a.is_ipv4() { 32 } else { 128 };
                    let len = len.unwrap_or(max);
                    if len > max {
                        return Err((i + 1, format!("{v}: prefix length over {max}")));
                    }
                    Ok(Some((a, len)))
                }
                (None, _) => Ok(None),
            }
        };
        let mut step = 2;
        match w {
            "inet" | "inet6" => {
                family = Some(w == "inet6");
                step = 1;
            }
            "not" => {
                rule.invert = true;
                step = 1;
            }
            "from" => rule.from = selector()?,
            "to" => rule.to = selector()?,
            "iif" | "dev" => rule.iif = Some(value()?.to_string()),
            "oif" => rule.oif = Some(value()?.to_string()),
            "fwmark" => rule.fwmark = Some(number(u64::from(u32::MAX))? as u32),
            "tos" | "dsfield" => rule.tos = Some(number(255)? as u8),
            "priority" | "preference" | "pref" => {
                rule.priority = Some(number(u64::from(u32::MAX))? as u32);
            }
            "table" | "lookup" => {
                action = Some(RuleAction::Table(match value()? {
                    "main" => 254,
                    "local" => 255,
                    "default" => 253,
                    _ => number(u64::from(u32::MAX))? as u32,
                }));
            }
            "goto" => action = Some(RuleAction::Goto(number(u64::from(u32::MAX))? as u32)),
            "blackhole" | "unreachable" | "prohibit" => {
                action = Some(match w {
                    "blackhole" => RuleAction::Blackhole,
                    "unreachable" => RuleAction::Unreachable,
                    _ => RuleAction::Prohibit,
                });
                step = 1;
            }
            "no_track" => step = 1,
            _ => {
                return Err((
                    i,
                    format!("rule option {w} is not implemented (havip reads {RULE_READ})"),
                ))
            }
        }
        i += step;
    }
    rule.action = action.ok_or((
        0,
        "a rule needs an action (table N, goto N, blackhole, unreachable or prohibit)".to_string(),
    ))?;
    let families: Vec<bool> = [rule.from, rule.to]
        .iter()
        .flatten()
        .map(|(a, _)| a.is_ipv6())
        .chain(family)
        .collect();
    if families.windows(2).any(|w| w[0] != w[1]) {
        return Err((0, "the rule mixes address families".into()));
    }
    rule.v6 = families.first().copied().unwrap_or(false);
    Ok(rule)
}

/// Reads one `static_ipaddress` line: `ADDRESS[/PREFIX] dev IFACE [label LABEL]`.
pub fn parse_address(words: &[&str]) -> Result<StaticAddress, (usize, String)> {
    let first = words.first().copied().unwrap_or_default();
    let (addr, len) = match prefix(first) {
        Ok((Some(a), len)) => (a, len),
        _ => return Err((0, format!("{first}: not an address (ADDRESS[/PREFIX])"))),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix_len = len.unwrap_or(max);
    if prefix_len > max {
        return Err((0, format!("{first}: prefix length over {max}")));
    }
    let (mut dev, mut label) = (None, None);
    let mut i = 1;
    while i < words.len() {
        let w = words[i];
        let value = words.get(i + 1).ok_or((i, format!("{w} needs a value")))?;
        match w {
            "dev" => dev = Some(value.to_string()),
            "label" => label = Some(value.to_string()),
            _ => {
                return Err((
                    i,
                    format!("address option {w} is not implemented (havip reads dev and label)"),
                ))
            }
        }
        i += 2;
    }
    let dev = dev.ok_or((0, "a static address needs dev IFACE".to_string()))?;
    Ok(StaticAddress {
        addr: VipSpec {
            addr,
            prefix_len,
            label,
        },
        dev,
    })
}

/// `ADDR[/LEN]` or `default`: the address (none for default) and the length if written.
fn prefix(w: &str) -> Result<(Option<IpAddr>, Option<u8>), String> {
    if w == "default" {
        return Ok((None, Some(0)));
    }
    let (a, l) = match w.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (w, None),
    };
    let addr: IpAddr = a
        .parse()
        .map_err(|_| format!("{w}: not a prefix (ADDRESS[/LENGTH] or default)"))?;
    let len = match l {
        None => None,
        Some(l) => Some(
            l.parse::<u8>()
                .map_err(|_| format!("{w}: prefix length {l} is not a number"))?,
        ),
    };
    Ok((Some(addr), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<RouteSpec, (usize, String)> {
        parse(&line.split_whitespace().collect::<Vec<_>>())
    }

    #[test]
    fn keepalived_route_lines_are_read_and_printed_as_ip_route_takes_them() {
        for (line, shown) in [
            (
                "192.0.2.0/24 via 10.0.0.1 dev eth0",
                "192.0.2.0/24 via 10.0.0.1 dev eth0",
            ),
            ("to 192.0.2.0/24 gw 10.0.0.1", "192.0.2.0/24 via 10.0.0.1"),
            (
                "src 10.0.0.100 192.0.2.7 dev eth1 table 100 metric 5",
                "192.0.2.7/32 dev eth1 src 10.0.0.100 table 100 metric 5",
            ),
            (
                "default via 10.0.0.1 proto static scope global",
                "0.0.0.0/0 via 10.0.0.1 scope 0 proto 4",
            ),
            ("default via fe80::1 dev eth0", "::/0 via fe80::1 dev eth0"),
            ("blackhole 198.51.100.0/24", "blackhole 198.51.100.0/24"),
            (
                "unreachable 2001:db8::/32 no_track",
                "unreachable 2001:db8::/32",
            ),
            (
                "10.1.0.0/16 dev eth0 scope link onlink table main",
                "10.1.0.0/16 dev eth0 table 254 scope 253 onlink",
            ),
        ] {
            assert_eq!(
                p(line).map(|r| r.to_string()),
                Ok(shown.to_string()),
                "{line}"
            );
        }
    }

    #[test]
    fn rule_lines_are_read_and_printed_as_ip_rule_takes_them() {
        let r = |l: &str| parse_rule(&l.split_whitespace().collect::<Vec<_>>());
        for (line, shown) in [
            (
                "from 10.0.0.100 table 100 priority 100",
                "from 10.0.0.100/32 priority 100 table 100",
            ),
            ("to 192.0.2.0/24 lookup main", "to 192.0.2.0/24 table 254"),
            ("inet6 fwmark 0x10 table 7", "inet6 fwmark 16 table 7"),
            (
                "from 2001:db8::/64 iif eth0 prohibit",
                "from 2001:db8::/64 iif eth0 prohibit",
            ),
            (
                "not from all oif eth1 goto 32000 pref 5",
                "not oif eth1 priority 5 goto 32000",
            ),
        ] {
            assert_eq!(
                r(line).map(|x| x.to_string()),
                Ok(shown.to_string()),
                "{line}"
            );
        }
        assert!(r("from 2001:db8::1 table 7").unwrap().v6);
        for (line, at, says) in [
            ("from 10.0.0.1", 0, "needs an action"),
            (
                "from 10.0.0.1 to 2001:db8::/64 table 5",
                0,
                "mixes address families",
            ),
            (
                "from 10.0.0.1 table 5 uidrange 1-2",
                4,
                "rule option uidrange is not implemented",
            ),
            ("fwmark lots table 5", 1, "not a number"),
        ] {
            let e = r(line).unwrap_err();
            assert_eq!(e.0, at, "{line}: {e:?}");
            assert!(e.1.contains(says), "{line}: {e:?}");
        }
    }

    #[test]
    fn static_address_lines_need_their_interface() {
        let a = parse_address(&["10.0.0.5/24", "dev", "eth1", "label", "eth1:s"]).unwrap();
        assert_eq!(
            (a.addr.to_string(), a.dev.as_str()),
            ("10.0.0.5/24".into(), "eth1")
        );
        assert_eq!(a.addr.label.as_deref(), Some("eth1:s"));
        assert_eq!(
            parse_address(&["2001:db8::5", "dev", "eth0"])
                .unwrap()
                .addr
                .prefix_len,
            128
        );
        for (w, at, says) in [
            (&["10.0.0.5/24"][..], 0, "needs dev"),
            (
                &["10.0.0.5/24", "dev", "eth1", "brd", "+"][..],
                3,
                "option brd is not implemented",
            ),
            (&["eth1"][..], 0, "not an address"),
            (&["10.0.0.5/24", "dev"][..], 1, "needs a value"),
        ] {
            let e = parse_address(w).unwrap_err();
            assert_eq!(e.0, at, "{w:?}: {e:?}");
            assert!(e.1.contains(says), "{w:?}: {e:?}");
        }
    }

    #[test]
    fn what_havip_would_add_differently_is_refused_by_name() {
        for (line, at, says) in [
            (
                "192.0.2.0/24 via 10.0.0.1 mtu 1400",
                3,
                "route option mtu is not implemented",
            ),
            (
                "192.0.2.0/24 via fe80::1",
                0,
                "not of the destination's address family",
            ),
            ("192.0.2.0/24", 0, "needs via or dev"),
            ("blackhole 192.0.2.0/24 dev eth0", 0, "has no via or dev"),
            ("192.0.2.0/33 dev eth0", 0, "over 32"),
            ("via 10.0.0.1", 0, "needs a destination"),
            ("192.0.2.0/24 via", 1, "via needs an address"),
            ("192.0.2.0/24 dev eth0 metric lots", 4, "not a number"),
            ("nonsense dev eth0", 0, "not a prefix"),
        ] {
            let e = p(line).unwrap_err();
            assert_eq!(e.0, at, "{line}: {e:?}");
            assert!(e.1.contains(says), "{line}: {e:?}");
        }
    }
}
