//! Everything recorded in one pass, loaded whole: a window compares the
//! recorded pass at its start with the one at its end.

use crate::store::read::Reader;

use crate::model::snapshot::{DockerTotals, StackKind};
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
    pub fn load(db: &Reader<'_>, pass: PassRow) -> rusqlite::Result<RecordedPass> {
        Ok(RecordedPass {
            pass,
            stacks: db.stacks_in(pass.id)?,
            containers: db.containers_in(pass.id)?,
            volumes: db.volumes_in(pass.id)?,
            images: db.images_in(pass.id)?,
            filesystems: db.filesystems_in(pass.id)?,
            docker_totals: db.docker_totals_in(pass.id)?,
        })
    }

    pub fn stack(&self, kind: StackKind, name: &str) -> Option<&StackRow> {
        self.stacks.iter().find(|s| s.kind == kind && s.name == name)
    }
}
