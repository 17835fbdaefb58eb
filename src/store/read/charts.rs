//! What the dashboard's charts read: for the passes a chart picks over its
//! window (the newest of each time bucket), the stacks', filesystems',
//! bind mounts', containers' and volumes' samples, plus the few lookups
//! its stack and volume pages need. Every query starts from the chosen
//! passes, so a page reads a few hundred passes whatever the history's
//! length.

use rusqlite::{OptionalExtension, params};

use super::{EventRow, FilesystemRow, Reader};
use crate::model::labels::NameList;
use crate::model::snapshot::{MountKind, StackKey};
use crate::time::Buckets;

/// The passes a chart of `host_id` reads: from the buckets' start on, the
/// newest of each bucket (the SQL groups as [`Buckets::index`] counts).
#[derive(Debug, Clone, Copy)]
pub struct ChartSpan {
    pub host_id: i64,
    pub buckets: Buckets,
}

const CHOSEN: &str = "WITH chosen AS (
    SELECT MAX(id) AS id FROM passes
    WHERE host_id = ?1 AND started_at >= ?2
    GROUP BY (started_at - ?2) / ?3)";

/// A chosen pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChosenPass {
    pub pass_id: i64,
    pub started_at: i64,
}

/// A stack's disk bytes at a chosen pass.
#[derive(Debug, Clone)]
pub struct StackDisk {
    pub pass_id: i64,
    pub stack: StackKey,
    pub disk_bytes: Option<i64>,
}

/// A filesystem at a chosen pass; `fs_ref` identifies it across passes.
#[derive(Debug, Clone)]
pub struct FilesystemAt {
    pub pass_id: i64,
    pub fs_ref: i64,
    pub row: FilesystemRow,
}

/// A bind mount of a host, by its host path.
#[derive(Debug, Clone)]
pub struct BindMount {
    pub volume_ref: i64,
    pub path: String,
}

/// A bind mount's size at a chosen pass, once per stack that mounts it.
#[derive(Debug, Clone)]
pub struct BindSize {
    pub pass_id: i64,
    pub volume_ref: i64,
    pub size_bytes: Option<i64>,
    pub stack: StackKey,
}

/// A container's cumulative CPU at a chosen pass, with its newest name.
#[derive(Debug, Clone)]
pub struct ContainerCpu {
    pub started_at: i64,
    pub container_ref: i64,
    pub cpu_ns: Option<i64>,
    pub name: String,
}

/// A stack's bytes by part and its memory at a chosen pass.
#[derive(Debug, Clone, Copy)]
pub struct StackParts {
    pub started_at: i64,
    pub volume_bytes: Option<i64>,
    pub log_bytes: Option<i64>,
    pub rw_bytes: Option<i64>,
    pub mem_bytes: Option<i64>,
}

/// A volume or bind mount a stack mounted, by name and kind.
#[derive(Debug, Clone)]
pub struct MountedVolume {
    pub name: String,
    pub kind: String,
}

/// A volume's identity in the history and its kind.
#[derive(Debug, Clone, Copy)]
pub struct VolumeRef {
    pub volume_ref: i64,
    pub kind: MountKind,
}

/// A volume's size at a chosen pass while it existed.
#[derive(Debug, Clone, Copy)]
pub struct VolumeSize {
    pub started_at: i64,
    pub size_bytes: Option<i64>,
}

impl Reader<'_> {
    /// The chosen passes, oldest first.
    pub fn chosen_passes(&self, span: &ChartSpan) -> rusqlite::Result<Vec<ChosenPass>> {
        self.conn
            .prepare_cached(&format!(
                "{CHOSEN} SELECT p.id, p.started_at FROM chosen c JOIN passes p ON p.id = c.id ORDER BY p.started_at"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width], |r| {
                Ok(ChosenPass { pass_id: r.get(0)?, started_at: r.get(1)? })
            })?
            .collect()
    }

    /// Every stack's disk bytes at the chosen passes, in no order.
    pub fn stack_disk_at(&self, span: &ChartSpan) -> rusqlite::Result<Vec<StackDisk>> {
        self.conn
            .prepare_cached(&format!(
                "{CHOSEN} SELECT ss.pass_id, s.kind, s.name, ss.disk_bytes FROM chosen c
                 JOIN stack_samples ss ON ss.pass_id = c.id JOIN stacks s ON s.id = ss.stack_id"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width], |r| {
                Ok(StackDisk {
                    pass_id: r.get(0)?,
                    stack: StackKey { kind: r.get(1)?, name: r.get(2)? },
                    disk_bytes: r.get(3)?,
                })
            })?
            .collect()
    }

    /// Every filesystem the chosen passes recorded, in no order.
    pub fn filesystems_at(&self, span: &ChartSpan) -> rusqlite::Result<Vec<FilesystemAt>> {
        self.conn
            .prepare_cached(&format!(
                "{CHOSEN} SELECT fs.pass_id, fs.fs_ref, f.device, f.mount_point, fs.total_bytes, fs.used_bytes,
                        fs.free_bytes, fs.docker_root
                 FROM chosen c JOIN filesystem_samples fs ON fs.pass_id = c.id JOIN filesystems f ON f.id = fs.fs_ref"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width], |r| {
                Ok(FilesystemAt {
                    pass_id: r.get(0)?,
                    fs_ref: r.get(1)?,
                    row: FilesystemRow {
                        device: r.get(2)?,
                        mount_point: r.get(3)?,
                        total: r.get(4)?,
                        used: r.get(5)?,
                        free: r.get(6)?,
                        docker_root: r.get(7)?,
                    },
                })
            })?
            .collect()
    }

    /// Every bind mount the host's history knows.
    pub fn bind_mounts(&self, host_id: i64) -> rusqlite::Result<Vec<BindMount>> {
        self.conn
            .prepare_cached("SELECT id, name FROM volumes WHERE host_id = ?1 AND kind = 'bind'")?
            .query_map([host_id], |r| Ok(BindMount { volume_ref: r.get(0)?, path: r.get(1)? }))?
            .collect()
    }

    /// The sizes of the bind mounts `volume_refs` at the chosen passes where
    /// they were present, once per stack mounting them; each a few
    /// primary-key lookups (sizes and states are stored when they change).
    pub fn bind_sizes_at(&self, span: &ChartSpan, volume_refs: &[i64]) -> rusqlite::Result<Vec<BindSize>> {
        if volume_refs.is_empty() {
            return Ok(Vec::new());
        }
        // One statement for them all (the chosen passes are picked once).
        // The ids are integers, so the list is not SQL text from outside.
        let ids = volume_refs.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
        self.conn
            .prepare(&format!(
                "{CHOSEN} SELECT c.id, v.id, z.size_bytes, s.kind, s.name FROM chosen c
                 CROSS JOIN volumes v
                 JOIN volume_spans sp ON sp.volume_ref = v.id AND c.id BETWEEN sp.first_pass AND sp.last_pass
                 JOIN volume_states st ON st.volume_ref = v.id AND st.pass_id =
                      (SELECT MAX(x.pass_id) FROM volume_states x WHERE x.volume_ref = v.id AND x.pass_id <= c.id)
                 LEFT JOIN volume_sizes z ON z.volume_ref = v.id AND z.pass_id =
                      (SELECT MAX(x.pass_id) FROM volume_sizes x WHERE x.volume_ref = v.id AND x.pass_id <= c.id)
                 JOIN volume_stacks vs ON vs.volume_ref = v.id AND vs.pass_id = st.pass_id
                 JOIN stacks s ON s.id = vs.stack_id
                 WHERE v.id IN ({ids}) AND st.present = 1"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width], |r| {
                Ok(BindSize {
                    pass_id: r.get(0)?,
                    volume_ref: r.get(1)?,
                    size_bytes: r.get(2)?,
                    stack: StackKey { kind: r.get(3)?, name: r.get(4)? },
                })
            })?
            .collect()
    }

    /// A stack's id on a host.
    pub fn stack_id(&self, host_id: i64, stack: &StackKey) -> rusqlite::Result<Option<i64>> {
        self.conn
            .prepare_cached("SELECT id FROM stacks WHERE host_id = ?1 AND kind = ?2 AND name = ?3")?
            .query_row(params![host_id, stack.kind, stack.name], |r| r.get(0))
            .optional()
    }

    /// A stack's bytes by part and memory at the chosen passes, oldest first.
    pub fn stack_parts_at(&self, span: &ChartSpan, stack_id: i64) -> rusqlite::Result<Vec<StackParts>> {
        self.conn
            .prepare_cached(&format!(
                "{CHOSEN} SELECT p.started_at, ss.volume_bytes, ss.log_bytes, ss.rw_bytes, ss.mem_bytes FROM chosen c
                 JOIN passes p ON p.id = c.id JOIN stack_samples ss ON ss.pass_id = c.id AND ss.stack_id = ?4
                 ORDER BY p.started_at"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width, stack_id], |r| {
                Ok(StackParts {
                    started_at: r.get(0)?,
                    volume_bytes: r.get(1)?,
                    log_bytes: r.get(2)?,
                    rw_bytes: r.get(3)?,
                    mem_bytes: r.get(4)?,
                })
            })?
            .collect()
    }

    /// The cumulative CPU of a stack's containers at the chosen passes.
    /// Only the containers whose span reaches into the window are tried (a
    /// year of recreated containers would otherwise be tried at every
    /// point); each one's sample of a pass is then one primary-key lookup.
    pub fn stack_cpu_at(&self, span: &ChartSpan, stack_id: i64) -> rusqlite::Result<Vec<ContainerCpu>> {
        self.conn
            .prepare_cached(&format!(
                "{CHOSEN}, alive AS (
                     SELECT k.id FROM containers k JOIN container_spans sp ON sp.container_ref = k.id
                     WHERE k.stack_id = ?4 AND sp.last_pass >= (SELECT MIN(id) FROM chosen))
                 SELECT p.started_at, a.id, cs.cpu_ns,
                        (SELECT st.name FROM container_states st WHERE st.container_ref = a.id
                         ORDER BY st.pass_id DESC LIMIT 1)
                 FROM chosen c JOIN passes p ON p.id = c.id CROSS JOIN alive a
                 JOIN container_samples cs ON cs.sample_key = (c.id << 32) + a.id"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width, stack_id], |r| {
                Ok(ContainerCpu { started_at: r.get(0)?, container_ref: r.get(1)?, cpu_ns: r.get(2)?, name: r.get(3)? })
            })?
            .collect()
    }

    /// A stack's deaths, OOM kills, restarts and health changes from `from`
    /// (Unix seconds) on, oldest first, at most `limit` (a start alone is
    /// left out: every restart has one).
    pub fn stack_incidents_since(
        &self,
        host_id: i64,
        from: i64,
        stack: &StackKey,
        limit: i64,
    ) -> rusqlite::Result<Vec<EventRow>> {
        self.conn
            .prepare_cached(concat!(
                super::event_columns!(),
                " WHERE host_id = ?1 AND at_ns >= ?2 * 1000000000 AND stack_kind = ?3 AND stack = ?4
                   AND action IN ('die', 'oom', 'restart', 'health_status')
                 ORDER BY at_ns LIMIT ?5"
            ))?
            .query_map(params![host_id, from, stack.kind, stack.name, limit], super::event_row)?
            .collect()
    }

    /// The volumes and bind mounts a stack mounted in the host's passes
    /// from `from` (Unix seconds) on, by name.
    pub fn stack_mounts_since(&self, stack_id: i64, host_id: i64, from: i64) -> rusqlite::Result<Vec<MountedVolume>> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT v.name, v.kind FROM volume_stacks vs JOIN volumes v ON v.id = vs.volume_ref
                 WHERE vs.stack_id = ?1
                   AND vs.pass_id >= (SELECT MIN(id) FROM passes WHERE host_id = ?2 AND started_at >= ?3)
                 ORDER BY v.name",
            )?
            .query_map(params![stack_id, host_id, from], |r| Ok(MountedVolume { name: r.get(0)?, kind: r.get(1)? }))?
            .collect()
    }

    /// A volume (or bind mount) of a host, by name.
    pub fn volume_by_name(&self, host_id: i64, name: &str) -> rusqlite::Result<Option<VolumeRef>> {
        self.conn
            .prepare_cached("SELECT id, kind FROM volumes WHERE host_id = ?1 AND name = ?2")?
            .query_row(params![host_id, name], |r| {
                Ok(VolumeRef { volume_ref: r.get(0)?, kind: MountKind::parse(&r.get::<_, String>(1)?) })
            })
            .optional()
    }

    /// A volume's size at the chosen passes where it existed, oldest first
    /// (sizes and states are stored when they change: each pass reads the
    /// newest row at or before it).
    pub fn volume_sizes_at(&self, span: &ChartSpan, volume_ref: i64) -> rusqlite::Result<Vec<VolumeSize>> {
        let rows = self
            .conn
            .prepare_cached(&format!(
                "{CHOSEN} SELECT p.started_at,
                    (SELECT z.size_bytes FROM volume_sizes z WHERE z.volume_ref = ?4 AND z.pass_id <= c.id
                     ORDER BY z.pass_id DESC LIMIT 1),
                    (SELECT st.present FROM volume_states st WHERE st.volume_ref = ?4 AND st.pass_id <= c.id
                     ORDER BY st.pass_id DESC LIMIT 1)
                 FROM chosen c JOIN passes p ON p.id = c.id JOIN volume_spans sp ON sp.volume_ref = ?4
                 WHERE c.id BETWEEN sp.first_pass AND sp.last_pass ORDER BY p.started_at"
            ))?
            .query_map(params![span.host_id, span.buckets.start, span.buckets.width, volume_ref], |r| {
                Ok((VolumeSize { started_at: r.get(0)?, size_bytes: r.get(1)? }, r.get::<_, Option<i64>>(2)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().filter(|(_, present)| *present == Some(1)).map(|(v, _)| v).collect())
    }

    /// The stacks that mount a volume in its newest record.
    pub fn volume_stacks_now(&self, volume_ref: i64) -> rusqlite::Result<Vec<StackKey>> {
        self.conn
            .prepare_cached(
                "SELECT DISTINCT s.kind, s.name FROM volume_stacks vs JOIN stacks s ON s.id = vs.stack_id
                 WHERE vs.volume_ref = ?1
                   AND vs.pass_id = (SELECT MAX(pass_id) FROM volume_stacks WHERE volume_ref = ?1)
                 ORDER BY s.name",
            )?
            .query_map([volume_ref], |r| Ok(StackKey { kind: r.get(0)?, name: r.get(1)? }))?
            .collect()
    }

    /// The containers that mount a volume in its newest state.
    pub fn volume_mounted_by_now(&self, volume_ref: i64) -> rusqlite::Result<Vec<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT mounted_by FROM volume_states WHERE volume_ref = ?1 ORDER BY pass_id DESC LIMIT 1")?
            .query_row([volume_ref], |r| r.get::<_, NameList>(0))
            .optional()?
            .map(|names| names.0)
            .unwrap_or_default())
    }
}
