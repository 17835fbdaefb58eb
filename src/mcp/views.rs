//! The public views, for the `sql` tool's description and the view
//! catalogue resource: what a model needs to write a query without the
//! README. Kept in step with README "The history database" (a test runs
//! every example).

/// Name, columns, and one example query, per view.
pub const VIEWS: [(&str, &str, &str); 14] = [
    (
        "latest_stacks",
        "host, stack, kind, containers, running, disk_bytes, mem_bytes, sampled_at, rw_bytes, log_bytes, \
         volume_bytes, unknown_sizes, working_dir, config_files, engine_id",
        "SELECT stack, disk_bytes, unknown_sizes FROM latest_stacks ORDER BY disk_bytes DESC NULLS LAST LIMIT 10",
    ),
    (
        "latest_containers",
        "host, stack, service, container, image, state, health, restart_count, mem_bytes, rw_bytes, log_bytes, \
         sampled_at, stack_kind, exit_code, oom_killed, started_at, cpu_ns, mem_limit_bytes, net_rx_bytes, \
         net_tx_bytes, blkio_read_bytes, blkio_write_bytes, pids, log_driver, container_id, rw_method, \
         rw_measured_at, engine_id",
        "SELECT stack, container, state, health, restart_count FROM latest_containers WHERE restart_count > 0 \
         ORDER BY restart_count DESC LIMIT 20",
    ),
    (
        "latest_volumes",
        "host, stack, volume, size_bytes, in_use, sampled_at, stack_kind, stack_via, driver, mounted_by, \
         size_method, size_measured_at, engine_id, kind, read_only, unsized_reason",
        "SELECT volume, stack, size_bytes, mounted_by FROM latest_volumes WHERE kind = 'bind' \
         ORDER BY size_bytes DESC NULLS LAST LIMIT 20",
    ),
    (
        "latest_images",
        "host, image_id, tags, size_bytes, containers, managed, stacks, sampled_at, engine_id",
        "SELECT tags, size_bytes, containers FROM latest_images ORDER BY size_bytes DESC LIMIT 10",
    ),
    (
        "stack_disk_history",
        "host, stack, sampled_at, disk_bytes, kind, rw_bytes, log_bytes, volume_bytes, mem_bytes, pass_id, \
         unknown_sizes, sampled_unix, engine_id",
        "SELECT sampled_at, disk_bytes FROM stack_disk_history WHERE stack = 'web' \
         AND sampled_unix >= unixepoch('now', '-1 day') ORDER BY sampled_unix",
    ),
    (
        "container_history",
        "host, stack, service, container, sampled_at, state, health, restart_count, cpu_ns, mem_bytes, rw_bytes, \
         log_bytes, pass_id, container_id, sampled_unix, engine_id, mem_peak_bytes",
        "SELECT sampled_at, container, restart_count, mem_peak_bytes FROM container_history \
         WHERE sampled_unix >= unixepoch('now', '-6 hours') AND stack = 'web' ORDER BY sampled_unix",
    ),
    (
        "volume_history",
        "host, volume, sampled_at, size_bytes, in_use, pass_id, sampled_unix, engine_id, kind, read_only, \
         unsized_reason, size_measured_at",
        "SELECT sampled_at, size_bytes FROM volume_history WHERE volume = 'web_data' \
         AND sampled_unix >= unixepoch('now', '-7 days') ORDER BY sampled_unix",
    ),
    (
        "filesystem_history",
        "host, mount_point, sampled_at, total_bytes, used_bytes, free_bytes, docker_root, device, pass_id, \
         sampled_unix, engine_id",
        "SELECT sampled_at, mount_point, used_bytes, free_bytes FROM filesystem_history \
         WHERE sampled_unix >= unixepoch('now', '-1 day') ORDER BY sampled_unix DESC LIMIT 20",
    ),
    (
        "image_history",
        "host, image_id, sampled_at, tags, size_bytes, containers, managed, stacks, pass_id, sampled_unix, engine_id",
        "SELECT sampled_at, tags, size_bytes FROM image_history \
         WHERE sampled_unix >= unixepoch('now', '-1 day') ORDER BY size_bytes DESC LIMIT 10",
    ),
    (
        "pass_log",
        "pass_id, host, sampled_at, duration_ms, engine_version, api_version, engine_id, docker_root, \
         fs_total_bytes, fs_used_bytes, fs_free_bytes, containers, volumes, images, error_count, sampled_unix, \
         resolution, stats_method, images_bytes, build_cache_bytes, docker_totals_measured_at",
        "SELECT sampled_at, host, duration_ms, fs_free_bytes, error_count FROM pass_log ORDER BY pass_id DESC LIMIT 5",
    ),
    (
        "prune_log",
        "host, removed_at, kind, name, stack, size_bytes, reason, object_id, label, prune_id, removed_unix, engine_id",
        "SELECT removed_at, kind, name, stack, size_bytes FROM prune_log \
         WHERE removed_unix >= unixepoch('now', '-7 days') ORDER BY removed_unix DESC",
    ),
    ("host_names", "host, hostname, engine_id, host_id", "SELECT host, hostname, engine_id FROM host_names"),
    (
        "container_events",
        "host, stack, service, container, at, action, exit_code, signal, oom, source, health, stack_kind, \
         container_id, at_ns, engine_id",
        "SELECT at, stack, container, action, exit_code, oom FROM container_events \
         WHERE at_ns >= unixepoch('now', '-1 day') * 1000000000 ORDER BY at_ns DESC LIMIT 50",
    ),
    (
        "event_gaps",
        "host, missing_from, missing_until, reason, noted_at, from_ns, to_ns, engine_id",
        "SELECT host, missing_from, missing_until, reason FROM event_gaps ORDER BY from_ns DESC LIMIT 10",
    ),
];

/// Rules that hold across the views, in a few lines.
pub const NOTES: &str = "Times: sampled_at is ISO-8601 UTC text, sampled_unix the same in Unix seconds (filter time \
ranges on it). Sizes are integer bytes; NULL means not measured, never zero. In the volume views kind is 'volume' or \
'bind' (then volume is the host path). unknown_sizes counts a stack's parts that were not measured. tags, stacks and \
mounted_by are JSON arrays. container_history: always add a time range on sampled_unix. container_events: filter \
time on at_ns (nanoseconds: at_ns >= unixepoch('now', '-1 day') * 1000000000); action is die, oom, kill, start, \
restart, destroy or health_status.";

/// The catalogue as markdown: one block per view.
pub fn catalogue() -> String {
    let mut out = String::from("# stackwatch views\n\n");
    out.push_str(NOTES);
    out.push_str("\n\n");
    for (name, columns, example) in VIEWS {
        out.push_str(&format!("## {name}\n\nColumns: {columns}\n\nExample:\n\n```sql\n{example};\n```\n\n"));
    }
    out
}

/// The view names and columns, one line each, for the `sql` tool's description.
pub fn summary() -> String {
    VIEWS.iter().map(|(n, c, _)| format!("{n}({c})")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every example runs, as written, on a database of the current schema,
    /// and every view's listed columns are its real columns, in order.
    #[test]
    fn examples_run_and_columns_match_the_views() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        drop(crate::store::open_for_write(&path, std::time::Duration::from_secs(1)).unwrap());
        let st = crate::store::open_read_only(&path, std::time::Duration::from_secs(1)).unwrap();
        for (name, columns, example) in VIEWS {
            let mut out = Vec::new();
            crate::sql::run(st.user_sql_connection(), example, crate::sql::SqlFormat::Csv, None, &mut out)
                .unwrap_or_else(|e| panic!("{name}: {example}: {e:#}"));
            let stmt = st.user_sql_connection().prepare(&format!("SELECT * FROM {name}")).unwrap();
            let real: Vec<&str> = stmt.column_names();
            let listed: Vec<&str> = columns.split(',').map(str::trim).collect();
            assert_eq!(listed, real, "{name}");
        }
        // A view added later must be added here too (the `sql` tool's
        // description is how a model learns it exists).
        let mut stmt = st
            .user_sql_connection()
            .prepare("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
            .unwrap();
        let all: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap();
        // `latest_passes` is a helper of the other views, not in the README's list.
        for v in all.iter().filter(|v| *v != "latest_passes") {
            assert!(VIEWS.iter().any(|(n, ..)| n == v), "view {v} is missing from the catalogue");
        }
        let text = catalogue();
        assert!(VIEWS.iter().all(|(n, ..)| text.contains(&format!("## {n}\n"))));
    }
}
