//! What the store remembers of each measured size, and the kinds of
//! object a size belongs to. The collector reads it to decide what to
//! measure this pass; the store writes and reads it.

use std::collections::HashMap;

/// Kinds of sized object, as `size_state.kind` spells them.
pub const VOLUME: &str = "volume";
pub const WRITABLE_LAYER: &str = "writable_layer";
/// Docker's own totals, whose two objects are [`IMAGES`] and [`BUILD_CACHE`].
pub const DOCKER_TOTALS: &str = "docker_totals";
pub const IMAGES: &str = "images";
pub const BUILD_CACHE: &str = "build_cache";

/// The last measurement of an object, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Known {
    pub bytes: Option<i64>,
    pub method: Option<String>,
    pub measured_at: Option<i64>,
    pub attempted_at: i64,
    pub walk_ms: Option<i64>,
    pub walk_files: Option<i64>,
    /// Why the last attempt found no size (a bind path whose walk failed);
    /// passes until the next attempt record it with the unknown size.
    pub unsized_reason: Option<String>,
}

/// (kind, object) → last measurement.
pub type State = HashMap<(String, String), Known>;

/// A size measured this many seconds or more before the pass that uses it
/// is old enough that readers say how old.
const STALE_AFTER: i64 = 60;

/// How many seconds before `pass_at` the oldest of `measured_at` was
/// measured, when that is a minute or more: sizes expensive to walk are
/// carried forward between measurements, and readers say how old they are.
pub fn stale_age(pass_at: i64, measured_at: impl IntoIterator<Item = i64>) -> Option<i64> {
    measured_at.into_iter().min().map(|t| pass_at - t).filter(|age| *age >= STALE_AFTER)
}

/// How much an object's size changed between two edges, each `None` where
/// the object is absent and `Some(None)` where its size is unknown. Absent
/// counts as nothing, so a new object's change is its size and a removed
/// one's minus its size; an unknown size at either edge, or absence at both,
/// gives no change at all rather than a guess.
pub fn size_delta(start: Option<Option<i64>>, end: Option<Option<i64>>) -> Option<i64> {
    match (start, end) {
        (Some(Some(a)), Some(Some(b))) => Some(b - a),
        (None, Some(Some(b))) => Some(b),
        (Some(Some(a)), None) => Some(-a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_delta_counts_absence_as_nothing_and_unknown_as_unknown() {
        assert_eq!(size_delta(Some(Some(10)), Some(Some(25))), Some(15));
        assert_eq!(size_delta(None, Some(Some(5))), Some(5), "new");
        assert_eq!(size_delta(Some(Some(7)), None), Some(-7), "removed");
        assert_eq!(size_delta(Some(None), Some(Some(100))), None);
        assert_eq!(size_delta(Some(Some(100)), Some(None)), None);
        assert_eq!(size_delta(None, Some(None)), None);
        assert_eq!(size_delta(None, None), None);
    }

    #[test]
    fn a_size_is_stale_from_a_minute_before_its_pass_by_its_oldest_measurement() {
        assert_eq!(stale_age(1_000, [990, 950, 999]), None, "under a minute");
        assert_eq!(stale_age(1_000, [990, 940, 1_005]), Some(60));
        assert_eq!(stale_age(1_000, [400, 900]), Some(600));
        assert_eq!(stale_age(1_000, []), None, "nothing measured");
    }
}
