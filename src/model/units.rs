//! Sizes for people. SI decimal units throughout (1 GB = 10^9 bytes), the
//! same as `docker system df` prints, so numbers can be compared by eye.

pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let neg = n < 0;
    let mut v = n.unsigned_abs() as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    let sign = if neg { "-" } else { "" };
    if i == 0 {
        return format!("{sign}{} B", n.unsigned_abs());
    }
    // Three significant digits, trailing zeros dropped: 1.23 GB, 11.8 GB, 12 GB.
    let text = if v < 10.0 {
        format!("{v:.2}")
    } else if v < 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    };
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{sign}{text} {}", UNITS[i])
}

/// A change in size with its sign: `+11.8 GB`, `-40 MB`, `0 B`.
pub fn delta(n: i64) -> String {
    if n > 0 { format!("+{}", bytes(n)) } else { bytes(n) }
}

/// `bytes`, or `?` where the size was not measured.
pub fn maybe_bytes(n: Option<i64>) -> String {
    n.map(bytes).unwrap_or_else(|| "?".to_string())
}

/// CPU from thousandths of a core, as cores with at most three significant
/// digits: `0.25 cores`, `0.012 cores`, `1.5 cores`, `12 cores`.
pub fn cores(milli: i64) -> String {
    let v = milli as f64 / 1000.0;
    let a = v.abs();
    let text = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    let text = if text == "-0" { "0" } else { text };
    format!("{text} {}", if text == "1" { "core" } else { "cores" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_units_with_sensible_precision() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1 kB");
        assert_eq!(bytes(40_000_000), "40 MB");
        assert_eq!(bytes(12_000_000_000), "12 GB");
        assert_eq!(bytes(11_800_000_000), "11.8 GB");
        assert_eq!(bytes(1_234_567_890), "1.23 GB");
        assert_eq!(bytes(999_999_999), "1000 MB");
        assert_eq!(bytes(-2_000_000_000), "-2 GB");
        assert_eq!(delta(200_000_000), "+200 MB");
        assert_eq!(delta(-40_000_000), "-40 MB");
        assert_eq!(delta(0), "0 B");
        assert_eq!(maybe_bytes(None), "?");
    }

    #[test]
    fn cores_from_millicores() {
        assert_eq!(cores(0), "0 cores");
        assert_eq!(cores(12), "0.012 cores");
        assert_eq!(cores(250), "0.25 cores");
        assert_eq!(cores(1000), "1 core");
        assert_eq!(cores(1500), "1.5 cores");
        assert_eq!(cores(12_345), "12.3 cores");
        assert_eq!(cores(128_000), "128 cores");
    }
}
