//! BPF_PROG_TEST_RUN table for the XDP program: whole output frames and actions.
//!
//! `BPF_PROG_TEST_RUN` runs the program as if the frame arrived on the namespace's loopback
//! device, so VIP entries here use loopback's ifindex.

use havip::dataplane::{monotonic_ns, Dataplane};
use havip_ebpf::{global, VipCounters, VipKey, VipState, VIP_OWNED};
use havip_lab::{frames, require_root};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

const VIP: [u8; 4] = [10, 99, 0, 100];
const OTHER_VIP: [u8; 4] = [10, 99, 0, 101];
const NODE_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x11];
const CLIENT_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xcc];
const CLIENT_IP: [u8; 4] = [10, 99, 0, 50];
const SECOND: u64 = 1_000_000_000;

fn lo_ifindex() -> u32 {
    // SAFETY: a valid NUL-terminated name.
    unsafe { libc::if_nametoindex(c"lo".as_ptr()) }
}

fn vip_state(flags: u32) -> VipState {
    VipState {
        flags,
        reserved: 0,
        mac: NODE_MAC,
        reserved2: [0; 2],
        max_heartbeat_age_ns: SECOND,
    }
}

struct Case {
    name: &'static str,
    frame: Vec<u8>,
    action: u32,
    /// The expected output frame; `None` means "the input, unchanged".
    out: Option<Vec<u8>>,
}

fn reply_to_client(padding: usize) -> Vec<u8> {
    let mut f = frames::arp(
        CLIENT_MAC, NODE_MAC, 2, NODE_MAC, VIP, CLIENT_MAC, CLIENT_IP,
    );
    f.resize(f.len() + padding, 0);
    f
}

#[test]
fn xdp_arp_responder_table() {
    require_root();
    let mut dp = Dataplane::load().expect("load the embedded XDP object");
    let lo = lo_ifindex();
    let key = VipKey {
        addr: VIP,
        ifindex: lo,
    };
    let other = VipKey {
        addr: OTHER_VIP,
        ifindex: lo,
    };
    let request = frames::arp_request(CLIENT_MAC, CLIENT_IP, VIP);
    let mut padded = request.clone();
    padded.resize(60, 0);

    // 0: no VIP configured at all.
    dp.beat().unwrap();
    let (action, out) = dp.test_run(&request).unwrap();
    assert_eq!(
        (action, &out),
        (XDP_PASS, &request),
        "0_no_vip passes untouched"
    );

    dp.set_vip(key, vip_state(VIP_OWNED)).unwrap();
    dp.set_vip(other, vip_state(0)).unwrap();
    let cases = vec![
        Case {
            name: "1_owned_vip_replies",
            frame: request.clone(),
            action: XDP_TX,
            out: Some(reply_to_client(0)),
        },
        Case {
            name: "2_owned_vip_padded_request_replies_keeping_length",
            frame: padded.clone(),
            action: XDP_TX,
            out: Some(reply_to_client(18)),
        },
        Case {
            name: "3_unicast_request_replies",
            frame: frames::arp(NODE_MAC, CLIENT_MAC, 1, CLIENT_MAC, CLIENT_IP, [0; 6], VIP),
            action: XDP_TX,
            out: Some(reply_to_client(0)),
        },
        Case {
            name: "4_not_owned_vip_drops",
            frame: frames::arp_request(CLIENT_MAC, CLIENT_IP, OTHER_VIP),
            action: XDP_DROP,
            out: None,
        },
        Case {
            name: "5_not_a_vip_passes",
            frame: frames::arp_request(CLIENT_MAC, CLIENT_IP, [10, 99, 0, 11]),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "6_arp_reply_for_vip_passes",
            frame: frames::arp(
                NODE_MAC, CLIENT_MAC, 2, CLIENT_MAC, CLIENT_IP, NODE_MAC, VIP,
            ),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "7_gratuitous_arp_request_for_vip_passes",
            frame: frames::arp_request(CLIENT_MAC, VIP, VIP),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "8_gratuitous_arp_reply_for_vip_passes",
            frame: frames::arp(
                frames::BROADCAST,
                CLIENT_MAC,
                2,
                CLIENT_MAC,
                VIP,
                frames::BROADCAST,
                VIP,
            ),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "9_vlan_tagged_request_for_vip_passes",
            frame: frames::vlan_tag(&request, 42),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "10_ipv4_to_vip_passes",
            frame: frames::ipv4_udp(CLIENT_MAC, CLIENT_IP, VIP),
            action: XDP_PASS,
            out: None,
        },
        Case {
            name: "11_non_ethernet_hardware_type_passes",
            frame: {
                let mut f = request.clone();
                f[15] = 6; // htype IEEE 802
                f
            },
            action: XDP_PASS,
            out: None,
        },
    ];
    let mut failures = Vec::new();
    for case in &cases {
        dp.beat().unwrap();
        let (action, out) = dp.test_run(&case.frame).unwrap();
        let want = case.out.as_ref().unwrap_or(&case.frame);
        if action != case.action || &out != want {
            failures.push(format!(
                "{}: got action {action} frame {out:02x?}\n   want action {} frame {want:02x?}",
                case.name, case.action
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The counters of the owned VIP: cases 1, 2, 3 answered; the other VIP: case 4 dropped.
    let c = dp.vip_counters(&key).unwrap();
    assert_eq!(
        c,
        VipCounters {
            requests: 3,
            replies: 3,
            dropped_not_owned: 0,
            dropped_stale: 0
        }
    );
    let c = dp.vip_counters(&other).unwrap();
    assert_eq!(
        c,
        VipCounters {
            requests: 1,
            replies: 0,
            dropped_not_owned: 1,
            dropped_stale: 0
        }
    );
}

#[test]
fn xdp_stale_heartbeat_drops_then_fresh_answers_again() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let key = VipKey {
        addr: VIP,
        ifindex: lo_ifindex(),
    };
    dp.set_vip(key, vip_state(VIP_OWNED)).unwrap();
    let request = frames::arp_request(CLIENT_MAC, CLIENT_IP, VIP);

    // Never beaten (heartbeat 0): stale.
    assert_eq!(
        dp.test_run(&request).unwrap(),
        (XDP_DROP, request.clone()),
        "no heartbeat yet"
    );
    // Older than max_heartbeat_age_ns (1 s).
    dp.set_heartbeat(monotonic_ns() - 2 * SECOND).unwrap();
    assert_eq!(
        dp.test_run(&request).unwrap(),
        (XDP_DROP, request.clone()),
        "2 s old heartbeat"
    );
    // Just within it.
    dp.set_heartbeat(monotonic_ns() - SECOND / 2).unwrap();
    assert_eq!(
        dp.test_run(&request).unwrap(),
        (XDP_TX, reply_to_client(0)),
        "0.5 s old"
    );
    // A heartbeat from the "future" (written on another CPU after the program read the clock).
    dp.set_heartbeat(monotonic_ns() + SECOND).unwrap();
    assert_eq!(
        dp.test_run(&request).unwrap().0,
        XDP_TX,
        "heartbeat ahead of the program's clock"
    );

    let c = dp.vip_counters(&key).unwrap();
    assert_eq!(
        c,
        VipCounters {
            requests: 4,
            replies: 2,
            dropped_not_owned: 0,
            dropped_stale: 2
        }
    );
}

#[test]
fn xdp_truncated_frames_pass_and_count_as_malformed() {
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let key = VipKey {
        addr: VIP,
        ifindex: lo_ifindex(),
    };
    dp.set_vip(key, vip_state(VIP_OWNED)).unwrap();
    dp.beat().unwrap();
    let request = frames::arp_request(CLIENT_MAC, CLIENT_IP, VIP);
    // BPF_PROG_TEST_RUN refuses XDP input shorter than an Ethernet header (EINVAL), so the
    // shortest frames the program can be shown are 14 bytes.
    let mut tried = 0;
    for len in 14..request.len() {
        let frame = &request[..len];
        let (action, out) = dp.test_run(frame).unwrap();
        assert_eq!(
            (action, out.as_slice()),
            (XDP_PASS, frame),
            "{len}-byte truncated request"
        );
        tried += 1;
    }
    let g = dp.global_counters().unwrap();
    assert_eq!(
        g[global::MALFORMED as usize],
        tried,
        "every truncated ARP frame is counted"
    );
    assert_eq!(g[global::PASSED as usize], tried);
    assert_eq!(
        dp.vip_counters(&key).unwrap(),
        VipCounters::default(),
        "none reached the VIP"
    );
    for len in 0..14 {
        assert!(
            dp.test_run(&request[..len]).is_err(),
            "the kernel accepted a {len}-byte frame"
        );
    }
}

/// `use_vmac`: a unicast frame to the virtual MAC is the master's. Owned with a fresh heartbeat
/// it goes to the stack as the interface's own (destination rewritten); owned by no one here
/// (a backup), or with a stale heartbeat (a stopped daemon), it is dropped; a virtual MAC of
/// another router passes untouched. Each is counted.
#[test]
fn xdp_virtual_mac_frames_go_to_the_master_only() {
    use havip_ebpf::VmacKey;
    require_root();
    let mut dp = Dataplane::load().expect("load");
    let vmac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
    let key = VmacKey {
        ifindex: lo_ifindex(),
        mac: vmac,
        reserved: [0; 2],
    };
    let mut to_vmac = frames::ipv4_udp(CLIENT_MAC, CLIENT_IP, VIP);
    to_vmac[..6].copy_from_slice(&vmac);
    let mut as_own = to_vmac.clone();
    as_own[..6].copy_from_slice(&NODE_MAC);
    let mut other_router = to_vmac.clone();
    other_router[5] = 52;
    dp.beat().unwrap();

    // Not declared: passes untouched (the stack ignores a frame for another host).
    assert_eq!(dp.test_run(&to_vmac).unwrap(), (XDP_PASS, to_vmac.clone()));
    // A backup's entry: dropped.
    dp.set_vmac(key, vip_state(0)).unwrap();
    assert_eq!(dp.test_run(&to_vmac).unwrap(), (XDP_DROP, to_vmac.clone()));
    // The master's: to the stack as the interface's own.
    dp.set_vmac(key, vip_state(VIP_OWNED)).unwrap();
    assert_eq!(dp.test_run(&to_vmac).unwrap(), (XDP_PASS, as_own));
    // Another router's virtual MAC: untouched.
    assert_eq!(
        dp.test_run(&other_router).unwrap(),
        (XDP_PASS, other_router.clone())
    );
    // The daemon stopped beating: dropped, as its ARP answers stop.
    dp.set_heartbeat(monotonic_ns() - 2 * SECOND).unwrap();
    assert_eq!(dp.test_run(&to_vmac).unwrap(), (XDP_DROP, to_vmac.clone()));
    let g = dp.global_counters().unwrap();
    assert_eq!(
        (
            g[global::VMAC_ACCEPTED as usize],
            g[global::VMAC_DROPPED as usize]
        ),
        (1, 2)
    );
    // Forgotten: passes untouched again.
    dp.remove_vmac(&key).unwrap();
    assert_eq!(dp.test_run(&to_vmac).unwrap(), (XDP_PASS, to_vmac));
}
