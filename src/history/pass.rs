//! Everything recorded in one pass, loaded whole: a window compares the
//! recorded pass at its start with the one at its end.

use rusqlite::Connection;

use crate::model::snapshot::DockerTotals;
use crate::store::read;
use crate::store::read::{ContainerRow, FilesystemRow, ImageRow, PassRow, StackRow, VolumeRow};

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
            stacks: read::stacks_in(conn, pass.id)?,
            containers: read::containers_in(conn, pass.id)?,
            volumes: read::volumes_in(conn, pass.id)?,
            images: read::images_in(conn, pass.id)?,
            filesystems: read::filesystems_in(conn, pass.id)?,
            docker_totals: read::docker_totals_in(conn, pass.id)?,
        })
    }

    pub fn stack(&self, kind: &str, name: &str) -> Option<&StackRow> {
        self.stacks.iter().find(|s| s.kind == kind && s.name == name)
    }
}
