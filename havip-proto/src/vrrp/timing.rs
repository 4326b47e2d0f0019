//! The RFC's derived timer values, written once: the router runs its Master_Down_Timer on them,
//! and the daemon sizes the XDP heartbeat's maximum age from them (answers must stop before a
//! backup takes over).

use std::time::Duration;

use super::config::{Centis, Version};

/// `units`/256 of the skew unit: Master_Adver_Interval in v3 (RFC 9568 §6.1), one second in v2
/// (RFC 3768 §6.1, whatever the advert interval). Exact to the nanosecond; keepalived truncates
/// to the microsecond.
pub(crate) fn skew(version: Version, master_adver_int: Centis, units: u32) -> Duration {
    let unit = match version {
        Version::V3 => master_adver_int.duration(),
        Version::V2 => Duration::from_secs(1),
    };
    unit * units / 256
}

/// Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256 in v3 (RFC 9568 §6.1),
/// (256 − Priority) / 256 s in v2 (RFC 3768 §6.1).
pub fn skew_time(version: Version, master_adver_int: Centis, priority: u8) -> Duration {
    skew(version, master_adver_int, 256 - u32::from(priority))
}

/// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time: how long a backup waits for an
/// advert before it takes over.
pub fn master_down_interval(version: Version, master_adver_int: Centis, priority: u8) -> Duration {
    master_down_interval_of(version, master_adver_int, priority, 3)
}

/// keepalived's `down_timer_adverts`: Master_Down_Interval with `adverts` intervals in place of
/// the RFC's 3.
pub fn master_down_interval_of(
    version: Version,
    master_adver_int: Centis,
    priority: u8,
    adverts: u8,
) -> Duration {
    master_adver_int.duration() * u32::from(adverts)
        + skew_time(version, master_adver_int, priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values written out, not recomputed with the formula.

    #[test]
    fn rfc3768_6_1_v2_skew_is_in_seconds_whatever_the_interval() {
        assert_eq!(
            skew_time(Version::V2, Centis::from_secs(1), 100),
            Duration::from_nanos(609_375_000)
        );
        assert_eq!(
            skew_time(Version::V2, Centis::from_secs(2), 100),
            Duration::from_nanos(609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, Centis::from_secs(2), 100),
            Duration::from_nanos(6_609_375_000)
        );
        assert_eq!(
            master_down_interval(Version::V2, Centis::from_secs(1), 200),
            Duration::from_nanos(3_218_750_000)
        );
    }

    #[test]
    fn rfc9568_6_1_v3_skew_scales_with_the_interval() {
        assert_eq!(
            master_down_interval(Version::V3, Centis::from_secs(1), 100),
            Duration::from_nanos(3_609_375_000)
        );
        assert_eq!(
            skew_time(Version::V3, Centis(200), 100),
            Duration::from_nanos(1_218_750_000)
        );
        // 10 ms adverts: 30 ms + 156/256 of 10 ms.
        assert_eq!(
            master_down_interval(Version::V3, Centis(1), 100),
            Duration::from_nanos(36_093_750)
        );
    }

    #[test]
    fn the_owner_skews_least_and_priority_1_most() {
        assert_eq!(
            skew_time(Version::V3, Centis::from_secs(1), 255),
            Duration::from_nanos(3_906_250)
        );
        assert_eq!(
            skew_time(Version::V3, Centis::from_secs(1), 1),
            Duration::from_nanos(996_093_750)
        );
        // Priority 0 is never configured, but the formula stays total: a whole unit.
        assert_eq!(
            skew_time(Version::V2, Centis::from_secs(1), 0),
            Duration::from_secs(1)
        );
    }
}
