//! The time formats Kubernetes and Calico write: `metav1.Time` (RFC 3339, whole seconds,
//! UTC) for `creationTimestamp`, a block's `affinity_claim_time` and an exec credential's
//! expiry, and Go's `Time.String()` of a UTC time for the `timestamp` allocation attribute.
//! Here, below the datastore and the API client, which both read them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `metav1.Time` JSON: `2026-08-22T13:33:20Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let u = Utc::of(t);
    format!("{}T{}Z", u.date(), u.hms())
}

/// Go's `time.Now().UTC().String()`: `2026-08-22 13:33:20.123456789 +0000 UTC`, the fraction
/// without trailing zeros and left out when zero.
pub fn go_utc_string(t: SystemTime) -> String {
    let u = Utc::of(t);
    let mut frac = String::new();
    if u.nanos != 0 {
        frac = format!(".{:09}", u.nanos);
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    format!("{} {}{frac} +0000 UTC", u.date(), u.hms())
}

/// A time's UTC calendar fields, for every time stamp the suite prints (the formats above,
/// the install tool's log lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
}

impl Utc {
    pub fn of(t: SystemTime) -> Utc {
        let (secs, nanos) = split(t);
        let sod = secs.rem_euclid(86400) as u32;
        let (year, month, day) = civil_from_days(secs.div_euclid(86400));
        Utc {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod % 3600 / 60,
            second: sod % 60,
            nanos,
        }
    }

    /// `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `hh:mm:ss`.
    pub fn hms(&self) -> String {
        format!("{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// Parses RFC 3339 as `metav1.Time` accepts it (`Z` or a numeric offset, optional fraction).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        nanos = frac[..digits].parse::<u32>().ok()? * 10u32.pow(9 - digits as u32);
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            let v = h * 3600 + m * 60;
            if o[0] == b'-' {
                -v
            } else {
                v
            }
        }
    };
    let secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec - offset;
    if secs >= 0 {
        Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
    } else {
        (UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())).checked_add(Duration::new(0, nanos))
    }
}

/// Nanoseconds since the epoch, as Go's `time.Now().UnixNano()` (a block's first sequence
/// number).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn split(t: SystemTime) -> (i64, u32) {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let mut secs = -(d.as_secs() as i64);
            let mut nanos = d.subsec_nanos();
            if nanos != 0 {
                secs -= 1;
                nanos = 1_000_000_000 - nanos;
            }
            (secs, nanos)
        }
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (Howard Hinnant's
/// days-to-civil).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let u = Utc::of(t + Duration::from_millis(250));
        assert_eq!(
            (u.year, u.month, u.day, u.hour, u.minute, u.second, u.nanos),
            (2023, 11, 14, 22, 13, 20, 250_000_000)
        );
    }

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn formats_like_go() {
        // 2026-08-22T13:33:20Z
        let t = at(1_787_405_600, 123_456_789);
        assert_eq!(rfc3339(t), "2026-08-22T13:33:20Z");
        assert_eq!(go_utc_string(t), "2026-08-22 13:33:20.123456789 +0000 UTC");
        assert_eq!(
            go_utc_string(at(1_787_405_600, 120_000_000)),
            "2026-08-22 13:33:20.12 +0000 UTC"
        );
        assert_eq!(go_utc_string(at(0, 0)), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(rfc3339(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(unix_nanos(at(2, 5)), 2_000_000_005);
    }

    #[test]
    fn parses_what_it_formats_and_offsets() {
        for secs in [0u64, 951_782_400, 1_787_405_600, 4_102_444_799] {
            let t = at(secs, 0);
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        }
        assert_eq!(
            parse_rfc3339("2026-08-22T15:33:20.5+02:00"),
            Some(at(1_787_405_600, 500_000_000))
        );
        for bad in [
            "",
            "2026-08-22",
            "2026-13-01T00:00:00Z",
            "2026-08-22T13:33:20",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
