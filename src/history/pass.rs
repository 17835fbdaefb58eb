//! Everything recorded in one pass, loaded whole: a window compares the
//! recorded pass at its start with the one at its end.

use std::collections::BTreeMap;

use rusqlite::Connection;

use crate::model::snapshot::DockerTotals;
use crate::store::queries::{self, ContainerRow, FilesystemRow, ImageRow, PassRow, StackRow, VolumeRow};

pub struct RecordedPass {
    pub pass: PassRow,
    pub stacks: Vec<StackRow>,
    pub containers: Vec<ContainerRow>,
    pub volumes: Vec<VolumeRow>,
    pub images: Vec<ImageRow>,
    pub filesystems: Vec<FilesystemRow>,
    pub docker_totals: DockerTotals,
}

impl RecordedPass {
    pub fn load(conn: &Connection, pass: PassRow) -> rusqlite::Result<RecordedPass> {
        Ok(RecordedPass {
            pass,
            stacks: queries::stacks_in(conn, pass.id)?,
            containers: queries::containers_in(conn, pass.id)?,
            volumes: queries::volumes_in(conn, pass.id)?,
            images: queries::images_in(conn, pass.id)?,
            filesystems: queries::filesystems_in(conn, pass.id)?,
            docker_totals: queries::docker_totals_in(conn, pass.id)?,
        })
    }

    pub fn stack(&self, kind: &str, name: &str) -> Option<&StackRow> {
        self.stacks.iter().find(|s| s.kind == kind && s.name == name)
    }
}

/// Labels are stored as a JSON object.
pub fn labels(json: &str) -> BTreeMap<String, String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Lists (tags, mounted_by) are stored as JSON arrays.
pub fn list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}
