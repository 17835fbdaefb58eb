//! `GET /system/df`, parsed by hand.
//!
//! bollard models only the API 1.52 shape of this response (`VolumeUsage`,
//! `ContainerUsage`), so against engines 20-28 its typed call returns
//! nothing. We fetch it with [`super::raw`] and accept both shapes: the
//! legacy top-level `Volumes`/`Containers` arrays and the newer `*Usage.Items`.

use std::collections::HashMap;

use anyhow::{Context, Result};
use serde::Deserialize;

/// Sizes the engine reports, keyed by volume name and container id.
/// A size of -1 (the engine's "not computed") is left out.
#[derive(Debug, Default)]
pub struct DiskUsage {
    pub volumes: HashMap<String, i64>,
    pub containers_rw: HashMap<String, i64>,
    /// Only when image usage was asked for (prune), keyed by image id.
    pub images: HashMap<String, ImageUsage>,
    /// Image and build-cache totals, when the answer was the whole `system
    /// df` anyway (engines before API 1.42), so they need no second walk.
    pub totals: Option<crate::model::snapshot::DockerTotals>,
}

/// What removing an image would free: `unique_bytes` are the bytes of its
/// layers that no other image shares (`Size - SharedSize`), the honest
/// figure for a prune; `size_bytes` counts shared layers too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageUsage {
    pub size_bytes: i64,
    pub unique_bytes: Option<i64>,
}

#[derive(Deserialize, Default)]
struct Raw {
    #[serde(rename = "Volumes", default)]
    volumes: Option<Vec<RawVolume>>,
    #[serde(rename = "Containers", default)]
    containers: Option<Vec<RawContainer>>,
    #[serde(rename = "VolumeUsage", default)]
    volume_usage: Option<Items<RawVolume>>,
    #[serde(rename = "ContainerUsage", default)]
    container_usage: Option<Items<RawContainer>>,
    #[serde(rename = "Images", default)]
    images: Option<Vec<RawImage>>,
    #[serde(rename = "ImageUsage", default)]
    image_usage: Option<Items<RawImage>>,
}

#[derive(Deserialize)]
struct RawImage {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Size", default)]
    size: i64,
    #[serde(rename = "SharedSize", default = "minus_one")]
    shared_size: i64,
}

fn minus_one() -> i64 {
    -1
}

#[derive(Deserialize)]
struct Items<T> {
    #[serde(rename = "Items", default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Deserialize)]
struct RawVolume {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "UsageData", default)]
    usage: Option<RawUsage>,
}

#[derive(Deserialize)]
struct RawUsage {
    #[serde(rename = "Size")]
    size: i64,
}

#[derive(Deserialize)]
struct RawContainer {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "SizeRw", default)]
    size_rw: Option<i64>,
}

#[derive(Deserialize, Default)]
struct RawTotals {
    #[serde(rename = "LayersSize", default)]
    layers_size: Option<i64>,
    #[serde(rename = "ImageUsage", default)]
    image_usage: Option<Total>,
    #[serde(rename = "BuildCache", default)]
    build_cache: Option<Vec<RawCacheRecord>>,
    #[serde(rename = "BuildCacheUsage", default)]
    build_cache_usage: Option<Total>,
}

#[derive(Deserialize)]
struct Total {
    #[serde(rename = "TotalSize", default)]
    total_size: Option<i64>,
}

#[derive(Deserialize)]
struct RawCacheRecord {
    #[serde(rename = "Size", default)]
    size: i64,
    #[serde(rename = "Shared", default)]
    shared: bool,
}

/// Image layers (each counted once) and build cache, as `docker system df`
/// shows them: cache records shared with an image are the image's bytes.
pub fn parse_totals(body: &[u8]) -> Result<crate::model::snapshot::DockerTotals> {
    let raw: RawTotals = serde_json::from_slice(body).context("unexpected /system/df response")?;
    let images = raw.image_usage.and_then(|u| u.total_size).or(raw.layers_size).filter(|b| *b >= 0);
    let cache = match (raw.build_cache_usage.and_then(|u| u.total_size), raw.build_cache) {
        (Some(total), _) => Some(total),
        (None, Some(records)) => Some(records.iter().filter(|r| !r.shared && r.size > 0).map(|r| r.size).sum()),
        // `null`: the engine has no build cache (the classic builder).
        (None, None) => Some(0),
    };
    Ok(crate::model::snapshot::DockerTotals {
        images_bytes: images,
        build_cache_bytes: cache.filter(|b| *b >= 0),
        measured_at: None,
    })
}

pub fn parse(body: &[u8]) -> Result<DiskUsage> {
    let raw: Raw = serde_json::from_slice(body).context("unexpected /system/df response")?;
    let vols = raw.volumes.into_iter().flatten().chain(raw.volume_usage.into_iter().flat_map(|u| u.items));
    let ctrs = raw.containers.into_iter().flatten().chain(raw.container_usage.into_iter().flat_map(|u| u.items));
    let imgs = raw.images.into_iter().flatten().chain(raw.image_usage.into_iter().flat_map(|u| u.items));
    Ok(DiskUsage {
        images: imgs
            .filter(|i| i.size >= 0)
            .map(|i| {
                let unique = (i.shared_size >= 0).then(|| (i.size - i.shared_size).max(0));
                (i.id, ImageUsage { size_bytes: i.size, unique_bytes: unique })
            })
            .collect(),
        volumes: vols.filter_map(|v| v.usage.map(|u| (v.name, u.size)).filter(|(_, s)| *s >= 0)).collect(),
        // The engine omits `SizeRw` when it is 0 (Go's omitempty).
        containers_rw: ctrs
            .filter_map(|c| Some(c.size_rw.unwrap_or(0)).filter(|s| *s >= 0).map(|s| (c.id, s)))
            .collect(),
        totals: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_shape_from_engines_before_api_1_52() {
        let body = br#"{"LayersSize":1,"Images":[],"Containers":[{"Id":"abc","SizeRw":4096},{"Id":"def"},{"Id":"ghi","SizeRw":-1}],
            "Volumes":[{"Name":"data","UsageData":{"Size":1048576,"RefCount":1}},
                       {"Name":"uncounted","UsageData":{"Size":-1,"RefCount":-1}}],"BuildCache":null}"#;
        let du = parse(body).unwrap();
        assert_eq!(du.volumes.get("data"), Some(&1_048_576));
        assert_eq!(du.volumes.get("uncounted"), None);
        assert_eq!(du.containers_rw.get("abc"), Some(&4096));
        assert_eq!(du.containers_rw.get("ghi"), None);
        assert_eq!(du.containers_rw.get("def"), Some(&0), "omitted SizeRw is 0");
    }

    #[test]
    fn new_shape_from_api_1_52() {
        let body = br#"{"VolumeUsage":{"TotalSize":5,"Items":[{"Name":"v","UsageData":{"Size":5,"RefCount":0}}]},
            "ContainerUsage":{"Items":[{"Id":"c","SizeRw":7}]}}"#;
        let du = parse(body).unwrap();
        assert_eq!(du.volumes.get("v"), Some(&5));
        assert_eq!(du.containers_rw.get("c"), Some(&7));
    }

    #[test]
    fn image_unique_bytes_leave_shared_layers_out() {
        let body = br#"{"Images":[{"Id":"sha256:a","Size":300,"SharedSize":100,"Containers":0},
            {"Id":"sha256:b","Size":50,"SharedSize":-1},{"Id":"sha256:c","Size":-1}],"Volumes":[],"Containers":[]}"#;
        let du = parse(body).unwrap();
        assert_eq!(du.images["sha256:a"], ImageUsage { size_bytes: 300, unique_bytes: Some(200) });
        assert_eq!(du.images["sha256:b"], ImageUsage { size_bytes: 50, unique_bytes: None });
        assert!(!du.images.contains_key("sha256:c"), "-1 is not computed, not a size");
    }

    #[test]
    fn totals_from_both_shapes_leave_shared_cache_records_to_images() {
        let legacy = br#"{"LayersSize":5000,"Images":[],"BuildCache":[{"ID":"a","Size":300,"Shared":false},
            {"ID":"b","Size":200,"Shared":true},{"ID":"c","Size":7,"Shared":false}]}"#;
        let t = parse_totals(legacy).unwrap();
        assert_eq!((t.images_bytes, t.build_cache_bytes), (Some(5000), Some(307)));
        let none = parse_totals(br#"{"LayersSize":12,"BuildCache":null}"#).unwrap();
        assert_eq!((none.images_bytes, none.build_cache_bytes), (Some(12), Some(0)));
        let new =
            parse_totals(br#"{"ImageUsage":{"TotalSize":9},"BuildCacheUsage":{"TotalSize":4,"Items":[]}}"#).unwrap();
        assert_eq!((new.images_bytes, new.build_cache_bytes), (Some(9), Some(4)));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"not json").is_err());
    }
}
