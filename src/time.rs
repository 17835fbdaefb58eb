//! Time stamps and durations as text.
//!
//! The engine speaks RFC 3339, the views and reports speak ISO-8601 UTC,
//! and config/CLI durations are `30s`, `6h`, `7d`. Parsing RFC 3339 (fractions,
//! offsets, leap seconds) is left to the `time` crate, which refinery brings
//! in anyway. Printing is a few lines of calendar arithmetic kept here: it
//! runs for every row of a report, and it covers every `i64`, where `time`
//! stops at year 9999.

use std::time::Duration;

/// The proleptic Gregorian date of a day counted from 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Parses the engine's RFC 3339 time stamps (`2026-11-25T12:00:00.123456789Z`,
/// or with a `+01:00` offset) to Unix seconds. The engine's "never" value,
/// `0001-01-01T00:00:00Z`, and anything unparsable give `None`.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    (t.year() > 1).then(|| t.unix_timestamp())
}

/// `2026-11-25T12:00:00Z`, the form the views use.
pub fn iso_utc(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Parses `500ms`, `30s`, `5m`, `6h`, `7d`, `2w`, or a sum such as `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let raw = text.trim();
    if raw.is_empty() {
        return Err("empty duration; expected e.g. 30s, 5m, 24h or 7d".into());
    }
    // Messages quote the input: keep them one printable line.
    let quoted = crate::untrusted::line(raw, 40);
    let s = quoted.as_str();
    let mut rest = raw;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            let at = crate::untrusted::line(rest, 40);
            return Err(format!("invalid duration `{s}`: expected a number at `{at}` (e.g. 30s, 5m, 24h, 7d)"));
        }
        let n: u128 = rest[..digits].parse().map_err(|_| format!("invalid duration `{s}`: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "" => {
                return Err(format!("invalid duration `{s}`: missing unit after {n} (ms, s, m, h, d or w)"));
            }
            u => {
                return Err(format!("invalid duration `{s}`: unknown unit `{u}` (ms, s, m, h, d or w)"));
            }
        };
        rest = &rest[unit_len..];
        total = total
            .checked_add(n.checked_mul(unit_ms).ok_or_else(|| format!("invalid duration `{s}`: too large"))?)
            .ok_or_else(|| format!("invalid duration `{s}`: too large"))?;
    }
    let ms = u64::try_from(total).map_err(|_| format!("invalid duration `{s}`: too large"))?;
    Ok(Duration::from_millis(ms))
}

/// A duration the way people write windows: `24h`, `7d`, `2w`, `90m`.
/// Days and weeks are used from two of them on, so one day prints as `24h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("w", 604_800_000u128), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        let least = if matches!(unit, "w" | "d") { 2 * size } else { size };
        if ms >= least && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A span for sentences: `24h`, `3h 10m`, `45s`, `2d 4h`: the two largest units.
pub fn human_span(secs: i64) -> String {
    let secs = secs.max(0);
    let units = [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)];
    let mut out = Vec::new();
    let mut rest = secs;
    for (u, size) in units {
        if rest >= size {
            out.push(format!("{}{u}", rest / size));
            rest %= size;
        }
        if out.len() == 2 || (!out.is_empty() && rest == 0) {
            break;
        }
    }
    if out.is_empty() { "0s".into() } else { out.join(" ") }
}

/// A window of the history: its length, and the way it was written
/// (`24h`), which sentences repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub seconds: i64,
    pub text: String,
}

impl Window {
    /// A window as a user writes it: a duration of at least a second.
    pub fn parse(text: &str) -> Result<Window, String> {
        let d = parse_duration(text)?;
        if d.as_secs() == 0 {
            return Err("the window must be at least 1s; give a duration such as 30m, 6h, 24h or 7d".into());
        }
        Ok(Window { seconds: d.as_secs() as i64, text: text.trim().to_string() })
    }

    /// A configured length, written the shortest way.
    pub fn of(d: Duration) -> Window {
        Window { seconds: d.as_secs() as i64, text: format_duration(d) }
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs(self.seconds.max(0) as u64)
    }
}

/// Equal time buckets over a window, one point of a series each: the
/// dashboard's charts and the MCP histories cut their windows with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    /// The window's first second; buckets are counted from it, not from the
    /// epoch, so where the window starts does not add a bucket.
    pub start: i64,
    /// Seconds a bucket.
    pub width: i64,
}

impl Buckets {
    /// At most `max` buckets over the window of `seconds` that starts at
    /// `start`. The window holds both its ends, `seconds + 1` whole
    /// seconds, so a bucket is `seconds / max + 1` wide, the narrowest that
    /// fits them in `max`: with `seconds / max` (the ceiling too, when `max`
    /// divides `seconds`) the window's last second opens bucket `max + 1`.
    pub fn over(start: i64, seconds: i64, max: i64) -> Buckets {
        Buckets { start, width: seconds.max(0) / max.max(1) + 1 }
    }

    /// The bucket `at` falls in, 0 for the window's first second. SQL that
    /// groups by bucket computes the same: `(t - start) / width`, with
    /// `t >= start`.
    pub fn index(&self, at: i64) -> i64 {
        (at - self.start).div_euclid(self.width)
    }
}

/// Seconds since the epoch, now.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_naturally() {
        assert_eq!(human_span(86_400), "1d");
        assert_eq!(human_span(24 * 3600 - 1), "23h 59m");
        assert_eq!(human_span(3 * 3600 + 600), "3h 10m");
        assert_eq!(human_span(45), "45s");
        assert_eq!(human_span(0), "0s");
        assert_eq!(human_span(7 * 86_400), "7d");
    }

    #[test]
    fn rfc3339_round_trips_through_iso() {
        let t = parse_rfc3339("2026-11-25T12:00:00.123456789Z").unwrap();
        assert_eq!(t, 1_795_608_000);
        assert_eq!(iso_utc(t), "2026-11-25T12:00:00Z");
        assert_eq!(parse_rfc3339("2026-11-25T13:30:00+01:30"), Some(t));
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_rfc3339("2024-02-29T00:00:00Z").map(iso_utc).as_deref(), Some("2024-02-29T00:00:00Z"));
    }

    #[test]
    fn engine_never_and_garbage_are_none() {
        assert_eq!(parse_rfc3339("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339(""), None);
        assert_eq!(parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2026-11-25T12:00:00"), None);
        assert_eq!(parse_rfc3339("2026-11-25T12:00:00Zjunk"), None);
        assert_eq!(parse_rfc3339("2026-02-30T12:00:00Z"), None, "no 30 February");
    }

    #[test]
    fn iso_matches_sqlite_for_a_spread_of_days() {
        // Our printing against the time crate's parsing, over 400 years.
        for day in (-10_000..150_000).step_by(97) {
            let t = day * 86_400 + 3_723;
            assert_eq!(parse_rfc3339(&iso_utc(t)), Some(t), "day {day}");
        }
    }

    #[test]
    fn a_window_holds_at_most_max_buckets_wherever_it_starts() {
        // An hour ending at a pass 15 s past an 18 s epoch boundary: 18 s
        // buckets counted from the epoch cut it into 201.
        let end = 1_796_150_625;
        let b = Buckets::over(end - 3600, 3600, 200);
        assert_eq!(b.width, 19);
        assert_eq!((b.index(end - 3600), b.index(end)), (0, 189));
        for (seconds, max) in [(3600, 200), (3599, 200), (3601, 200), (86_400, 240), (200, 200), (199, 200), (1, 200)] {
            for start in [0, 1, 7, 17, 18, 1_796_147_025] {
                let b = Buckets::over(start, seconds, max);
                let (first, last) = (b.index(start), b.index(start + seconds));
                assert_eq!(first, 0, "{seconds} s from {start}");
                assert!(last < max, "{seconds} s from {start} in buckets of {}: {} buckets", b.width, last + 1);
            }
        }
        // The buckets are no wider than they must be: one second less and
        // some window needs max + 1.
        for (seconds, max) in [(3600, 200), (86_400, 240), (300, 200)] {
            let narrower = Buckets { start: 0, width: Buckets::over(0, seconds, max).width - 1 };
            assert!(narrower.index(seconds) >= max, "{seconds} s in {max}: a narrower bucket would do");
        }
    }

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(format_duration(Duration::from_secs(86_400)), "24h");
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(14 * 86_400)), "2w");
        assert_eq!(format_duration(Duration::from_secs(5_400)), "90m");
        for bad in ["", "h", "10", "10x", "-5s", "1.5h", "99999999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad} should be rejected");
        }
    }
}
