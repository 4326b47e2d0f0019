//! From tracked checks to the priority an instance advertises, as keepalived computes it.
//!
//! keepalived keeps a running `total_priority` per instance and adjusts it on every change
//! (`process_script_update_priority()`, `initialise_track_script_state()` and
//! `vrrp_set_effective_priority()` in `keepalived/vrrp/vrrp_track.c`); its value is always the
//! base priority plus, for each tracked object with weight `w` (times −1 when `reverse`):
//! - `w > 0`: `+w` while healthy, nothing while failing;
//! - `w < 0`: nothing while healthy, `+w` while failing;
//! - nothing while the object has not reported yet ("init");
//!
//! and the effective priority is that total clamped to 1..=254. An address owner (base 255)
//! ignores weights and stays at 255. A weight of 0 does not touch the priority: the instance goes
//! to FAULT while the object fails (while it is healthy, with `reverse`), owners included.
//! [`effective_priority`] computes this from the current health, so the daemon needs no running
//! total; a property test checks it against keepalived's incremental algorithm.

use crate::model::{BfdSpec, ScriptSpec, TrackFileSpec, VrrpSpec};

/// What is known of a tracked check (or interface).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Health {
    /// No result yet (keepalived's script "init" state).
    #[default]
    Unknown,
    Up,
    Down,
    /// A tracked file's number (keepalived `track_file`), already clamped to ±254.
    Value(i64),
}

impl From<bool> for Health {
    fn from(healthy: bool) -> Health {
        if healthy {
            Health::Up
        } else {
            Health::Down
        }
    }
}

/// One tracked object of an instance, with the weight it carries there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracked {
    /// keepalived takes -253..=253 (±254 is read as ±253); values beyond are clamped so.
    pub weight: i32,
    /// keepalived `reverse`: the weight applies in the other direction (and with weight 0,
    /// healthy means FAULT).
    pub reverse: bool,
    pub health: Health,
}

/// What the instance should do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Run, advertising this priority.
    Priority(u8),
    /// A weight-0 object fails: `VirtualRouter::enter_fault`.
    Fault,
    /// A weight-0 object has not reported yet. keepalived starts such an instance as BACKUP but
    /// does not let it claim MASTER at start-up (an owner waits too) until the first result,
    /// which comes within one check timeout. The priority is what to advertise meanwhile.
    Init(u8),
}

impl Verdict {
    /// The priority to advertise, unless in FAULT.
    #[cfg(test)]
    pub fn priority(self) -> Option<u8> {
        match self {
            Verdict::Priority(p) | Verdict::Init(p) => Some(p),
            Verdict::Fault => None,
        }
    }
}

const OWNER: u8 = 255;

/// The priority an instance with base priority `base` advertises given its tracked objects,
/// or FAULT. Pure: call it again whenever a health changes.
pub fn effective_priority(base: u8, tracked: &[Tracked]) -> Verdict {
    let mut total = i32::from(base);
    let mut fault = false;
    let mut init = false;
    for t in tracked {
        if let Health::Value(v) = t.health {
            // keepalived's `update_track_file_status()`: weight 0 makes any non-zero number
            // FAULT; otherwise the number times the weight, clamped to -254..=253, where -254
            // is FAULT and the rest is added (an owner ignores it).
            let sign = if t.reverse { -1 } else { 1 };
            let status = if t.weight == 0 {
                if (v != 0) != t.reverse {
                    -254
                } else {
                    0
                }
            } else {
                (v * i64::from(t.weight) * sign).clamp(-254, 253)
            };
            if status == -254 {
                fault = true;
            } else {
                total += status as i32;
            }
            continue;
        }
        if t.weight == 0 {
            match t.health {
                Health::Unknown => init = true,
                h => fault |= (h == Health::Up) == t.reverse,
            }
            continue;
        }
        let w = t.weight.clamp(-253, 253) * if t.reverse { -1 } else { 1 };
        match (t.health, t.weight > 0) {
            (Health::Up, true) | (Health::Down, false) => total += w,
            _ => {}
        }
    }
    if fault {
        return Verdict::Fault;
    }
    let priority = if base == OWNER {
        OWNER
    } else {
        total.clamp(1, i32::from(OWNER) - 1) as u8
    };
    if init {
        Verdict::Init(priority)
    } else {
        Verdict::Priority(priority)
    }
}

/// The instance's `track_script` entries with their health: the weight is the `track_script`
/// override, else the script's own. Names with no `vrrp_script` are skipped, as keepalived
/// skips them ("track script %s not found, ignoring...").
pub fn tracked_scripts(
    vrrp: &VrrpSpec,
    scripts: &[ScriptSpec],
    health: impl Fn(&str) -> Health,
) -> Vec<Tracked> {
    vrrp.track_scripts
        .iter()
        .filter_map(|(name, weight)| {
            let script = scripts.iter().find(|s| &s.name == name)?;
            Some(Tracked {
                weight: weight.unwrap_or(script.weight),
                reverse: false,
                health: health(name),
            })
        })
        .collect()
}

/// The instance's `track_file` entries with the files' numbers: the weight is the entry's,
/// else the file's own. Names with no `track_file` block are skipped (the config reader
/// refuses them).
pub fn tracked_files(
    vrrp: &VrrpSpec,
    files: &[TrackFileSpec],
    value: impl Fn(&str) -> i64,
) -> Vec<Tracked> {
    vrrp.track_files
        .iter()
        .filter_map(|(name, weight)| {
            let file = files.iter().find(|f| &f.name == name)?;
            Some(Tracked {
                weight: weight.unwrap_or(file.weight),
                reverse: false,
                health: Health::Value(value(name)),
            })
        })
        .collect()
}

/// The instance's `track_bfd` entries: `Up` while the session is Up, `Down` in any other state
/// (from the start, as keepalived's sessions start down); the weight is the entry's, else the
/// `bfd_instance`'s. Names with no `bfd_instance` are skipped (the config reader warned).
pub fn tracked_bfds(vrrp: &VrrpSpec, bfds: &[BfdSpec], up: impl Fn(&str) -> bool) -> Vec<Tracked> {
    vrrp.track_bfds
        .iter()
        .filter_map(|(name, weight)| {
            let bfd = bfds.iter().find(|b| &b.name == name)?;
            Some(Tracked {
                weight: weight.unwrap_or(bfd.weight),
                reverse: false,
                health: Health::from(up(name)),
            })
        })
        .collect()
}

/// The instance's `track_interface` entries with their link state (`Up` while the link is up).
/// keepalived's weights work for interfaces as for scripts (0: down means FAULT), so the daemon
/// passes both lists, concatenated, to one [`effective_priority`] call.
pub fn tracked_interfaces(vrrp: &VrrpSpec, link: impl Fn(&str) -> Health) -> Vec<Tracked> {
    vrrp.track_interfaces
        .iter()
        .map(|(name, weight)| Tracked {
            weight: *weight,
            reverse: false,
            health: link(name),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Health::{Down, Unknown, Up};
    use Verdict::{Fault, Init, Priority};

    fn t(weight: i32, health: Health) -> Tracked {
        Tracked {
            weight,
            reverse: false,
            health,
        }
    }

    fn rev(weight: i32, health: Health) -> Tracked {
        Tracked {
            weight,
            reverse: true,
            health,
        }
    }

    #[test]
    fn no_tracking_keeps_the_base() {
        for base in 1..=255u8 {
            assert_eq!(effective_priority(base, &[]), Priority(base));
        }
    }

    #[test]
    fn positive_weight_is_added_while_healthy() {
        assert_eq!(effective_priority(100, &[t(20, Up)]), Priority(120));
        assert_eq!(effective_priority(100, &[t(20, Down)]), Priority(100));
        assert_eq!(effective_priority(100, &[t(20, Unknown)]), Priority(100));
    }

    #[test]
    fn negative_weight_is_added_while_failing() {
        assert_eq!(effective_priority(100, &[t(-30, Up)]), Priority(100));
        assert_eq!(effective_priority(100, &[t(-30, Down)]), Priority(70));
        assert_eq!(effective_priority(100, &[t(-30, Unknown)]), Priority(100));
    }

    #[test]
    fn reverse_turns_the_adjustment_around() {
        assert_eq!(effective_priority(100, &[rev(20, Up)]), Priority(80));
        assert_eq!(effective_priority(100, &[rev(20, Down)]), Priority(100));
        assert_eq!(effective_priority(100, &[rev(-30, Up)]), Priority(100));
        assert_eq!(effective_priority(100, &[rev(-30, Down)]), Priority(130));
    }

    #[test]
    fn weights_add_up() {
        let tracked = [t(10, Up), t(5, Up), t(-20, Down), t(-7, Up), t(3, Down)];
        assert_eq!(effective_priority(100, &tracked), Priority(95));
    }

    #[test]
    fn clamped_to_1_through_254_as_keepalived_does() {
        assert_eq!(effective_priority(250, &[t(10, Up)]), Priority(254));
        assert_eq!(effective_priority(254, &[t(253, Up)]), Priority(254));
        assert_eq!(effective_priority(10, &[t(-50, Down)]), Priority(1));
        assert_eq!(effective_priority(1, &[t(-253, Down)]), Priority(1));
        assert_eq!(effective_priority(10, &[t(-10, Down)]), Priority(1));
        // ±254 and beyond count as ±253.
        assert_eq!(effective_priority(1, &[t(1000, Up)]), Priority(254));
        assert_eq!(effective_priority(254, &[t(-254, Down)]), Priority(1));
        assert_eq!(effective_priority(100, &[t(i32::MIN, Down)]), Priority(1));
    }

    #[test]
    fn an_owner_ignores_weights() {
        for w in [-253, -1, 1, 253] {
            for h in [Up, Down, Unknown] {
                assert_eq!(effective_priority(255, &[t(w, h)]), Priority(255));
                assert_eq!(effective_priority(255, &[rev(w, h)]), Priority(255));
            }
        }
    }

    #[test]
    fn weight_zero_failing_means_fault() {
        assert_eq!(effective_priority(100, &[t(0, Down)]), Fault);
        assert_eq!(effective_priority(100, &[t(0, Up)]), Priority(100));
        // Owners too: weight 0 is not a priority change.
        assert_eq!(effective_priority(255, &[t(0, Down)]), Fault);
        assert_eq!(effective_priority(255, &[t(0, Up)]), Priority(255));
        // One failing weight-0 check is enough, whatever the others say.
        assert_eq!(
            effective_priority(100, &[t(50, Up), t(0, Up), t(0, Down)]),
            Fault
        );
    }

    #[test]
    fn weight_zero_reversed_faults_while_healthy() {
        assert_eq!(effective_priority(100, &[rev(0, Up)]), Fault);
        assert_eq!(effective_priority(100, &[rev(0, Down)]), Priority(100));
    }

    #[test]
    fn weight_zero_not_reported_yet_is_init() {
        assert_eq!(effective_priority(100, &[t(0, Unknown)]), Init(100));
        assert_eq!(
            effective_priority(100, &[t(0, Unknown), t(20, Up)]),
            Init(120)
        );
        assert_eq!(effective_priority(255, &[t(0, Unknown)]), Init(255));
        // A fault wins over init.
        assert_eq!(effective_priority(100, &[t(0, Unknown), t(0, Down)]), Fault);
        assert_eq!(Init(7).priority(), Some(7));
        assert_eq!(Fault.priority(), None);
    }

    #[test]
    fn track_script_weight_overrides_the_scripts() {
        let script = |name: &str, weight| ScriptSpec {
            name: name.into(),
            script: "/bin/true".into(),
            interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            weight,
            rise: 1,
            fall: 1,
            user: None,
            process: None,
        };
        let scripts = [script("a", 10), script("b", -20), script("c", 0)];
        let mut vrrp = VrrpSpec::new(1, 100);
        vrrp.track_scripts = vec![
            ("a".into(), None),
            ("b".into(), Some(-5)),
            ("missing".into(), Some(50)),
            ("c".into(), None),
        ];
        let health = |n: &str| if n == "b" { Down } else { Up };
        let tracked = tracked_scripts(&vrrp, &scripts, health);
        assert_eq!(tracked, [t(10, Up), t(-5, Down), t(0, Up)]);
        assert_eq!(effective_priority(100, &tracked), Priority(105));

        vrrp.track_interfaces = vec![("eth1".into(), -40), ("eth2".into(), 0)];
        let links = tracked_interfaces(&vrrp, |n| if n == "eth1" { Down } else { Up });
        assert_eq!(links, [t(-40, Down), t(0, Up)]);
        let all = [tracked, links].concat();
        assert_eq!(effective_priority(100, &all), Priority(65));
        let links = tracked_interfaces(&vrrp, |_| Down);
        assert_eq!(effective_priority(100, &links), Fault);
    }

    /// keepalived's own bookkeeping (`vrrp_track.c`): a running total started by
    /// `initialise_track_script_state()` and moved by `process_script_update_priority()`, with
    /// `num_script_if_fault` counting weight-0 faults.
    struct KeepalivedModel {
        base: i32,
        total: i32,
        faults: u32,
        inits: u32,
        objects: Vec<Tracked>,
    }

    impl KeepalivedModel {
        fn new(base: u8, objects: Vec<Tracked>) -> Self {
            let mut m = KeepalivedModel {
                base: base.into(),
                total: base.into(),
                faults: 0,
                inits: 0,
                objects: objects.clone(),
            };
            for o in &objects {
                let mult = if o.reverse { -1 } else { 1 };
                match (o.weight, o.health) {
                    (0, Unknown) => m.inits += 1,
                    (0, h) => m.faults += u32::from((h == Up) != (mult == 1)),
                    (_, Unknown) => {}
                    (w, Up) if w > 0 => m.total += w * mult,
                    (w, Down) if w < 0 => m.total += w * mult,
                    _ => {}
                }
            }
            m
        }

        fn update(&mut self, i: usize, ok: bool) {
            let o = self.objects[i];
            let mult = if o.reverse { -1 } else { 1 };
            if o.health == Health::from(ok) {
                return; // keepalived only calls on transitions
            }
            if o.weight == 0 {
                if o.health == Unknown {
                    self.inits -= 1;
                } else if (o.health == Up) != (mult == 1) {
                    self.faults -= 1; // leaving a faulting state
                }
                if ok != (mult == 1) {
                    self.faults += 1;
                }
            } else if o.health == Unknown {
                if ok && o.weight > 0 || !ok && o.weight < 0 {
                    self.total += o.weight * mult;
                }
            } else if ok {
                self.total += o.weight.abs() * mult;
            } else {
                self.total -= o.weight.abs() * mult;
            }
            self.objects[i].health = Health::from(ok);
        }

        fn verdict(&self) -> Verdict {
            if self.faults > 0 {
                return Fault;
            }
            let p = if self.base == 255 {
                255
            } else {
                self.total.clamp(1, 254) as u8
            };
            if self.inits > 0 {
                Init(p)
            } else {
                Priority(p)
            }
        }
    }

    fn tracked_strategy() -> impl Strategy<Value = Tracked> {
        (-253i32..=253, any::<bool>(), 0..3u8).prop_map(|(weight, reverse, h)| Tracked {
            weight: if weight % 4 == 0 { 0 } else { weight },
            reverse,
            health: [Unknown, Up, Down][h as usize],
        })
    }

    proptest! {
        #[test]
        fn matches_keepalived_incremental_algorithm(
            base in prop_oneof![1u8..=254, Just(255u8)],
            objects in prop::collection::vec(tracked_strategy(), 0..6),
            changes in prop::collection::vec((0usize..6, any::<bool>()), 0..30),
        ) {
            let mut model = KeepalivedModel::new(base, objects.clone());
            prop_assert_eq!(effective_priority(base, &model.objects), model.verdict());
            for (i, ok) in changes {
                if objects.is_empty() {
                    break;
                }
                model.update(i % objects.len(), ok);
                prop_assert_eq!(effective_priority(base, &model.objects), model.verdict());
            }
        }
    }
}
