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
        format!("{sign}{} B", n.unsigned_abs())
    } else if v < 10.0 {
        format!("{sign}{v:.1} {}", UNITS[i])
    } else {
        format!("{sign}{v:.0} {}", UNITS[i])
    }
}

/// `bytes`, or `?` where the size was not measured.
pub fn maybe_bytes(n: Option<i64>) -> String {
    n.map(bytes).unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_units_with_sensible_precision() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1.0 kB");
        assert_eq!(bytes(40_000_000), "40 MB");
        assert_eq!(bytes(12_000_000_000), "12 GB");
        assert_eq!(bytes(1_234_567_890), "1.2 GB");
        assert_eq!(bytes(-2_000_000_000), "-2.0 GB");
        assert_eq!(maybe_bytes(None), "?");
    }
}
