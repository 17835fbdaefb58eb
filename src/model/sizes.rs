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
}

/// (kind, object) → last measurement.
pub type State = HashMap<(String, String), Known>;
