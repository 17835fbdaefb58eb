-- stackwatch history schema, version 8: what happened between passes.
--
-- * `event_rows`: the container events the engine reported (die, oom,
--   kill, start, restart, destroy, health_status), one row per event. An
--   event is stored once, whoever saw it first: the key is (host, container,
--   time in nanoseconds, action), and a pass re-reading an interval the
--   previous pass already stored adds nothing. Stack and service come from
--   the event's attributes (the container's labels), so a container that
--   came and went between two passes still has its stack. `source` says
--   who stored it first (`collect` or `watch`).
-- * `event_gap_rows`: an interval whose events may be missing, because the
--   engine's bounded log no longer reached back to the previous pass
--   (`overflow`) or could not be read (`unreadable`).
-- Both are kept as long as hourly passes are (`keep_hourly`).

CREATE TABLE event_rows (
    host_id      INTEGER NOT NULL REFERENCES hosts(id),
    container_id TEXT NOT NULL,
    at_ns        INTEGER NOT NULL,
    action       TEXT NOT NULL,
    name         TEXT NOT NULL,
    stack_kind   TEXT,
    stack        TEXT,
    service      TEXT,
    health       TEXT,
    exit_code    INTEGER,
    signal       TEXT,
    oom          INTEGER NOT NULL DEFAULT 0,
    source       TEXT NOT NULL,
    PRIMARY KEY (host_id, container_id, at_ns, action)
) WITHOUT ROWID;
CREATE INDEX event_rows_by_time ON event_rows (host_id, at_ns);

CREATE TABLE event_gap_rows (
    host_id  INTEGER NOT NULL REFERENCES hosts(id),
    from_ns  INTEGER NOT NULL,
    to_ns    INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    noted_at INTEGER NOT NULL,
    PRIMARY KEY (host_id, from_ns, to_ns)
) WITHOUT ROWID;

-- Times as ISO 8601 with milliseconds; `at_ns` keeps the engine's precision.
CREATE VIEW container_events AS
SELECT h.host AS host,
       e.stack,
       e.service,
       e.name AS container,
       strftime('%Y-%m-%dT%H:%M:%fZ', e.at_ns / 1000000000.0, 'unixepoch') AS at,
       e.action,
       e.exit_code,
       e.signal,
       e.oom,
       e.source,
       e.health,
       e.stack_kind,
       e.container_id,
       e.at_ns,
       h.engine_id
FROM event_rows e JOIN host_names h ON h.host_id = e.host_id;

CREATE VIEW event_gaps AS
SELECT h.host AS host,
       strftime('%Y-%m-%dT%H:%M:%fZ', g.from_ns / 1000000000.0, 'unixepoch') AS missing_from,
       strftime('%Y-%m-%dT%H:%M:%fZ', g.to_ns / 1000000000.0, 'unixepoch') AS missing_until,
       g.reason,
       strftime('%Y-%m-%dT%H:%M:%SZ', g.noted_at, 'unixepoch') AS noted_at,
       g.from_ns,
       g.to_ns,
       h.engine_id
FROM event_gap_rows g JOIN host_names h ON h.host_id = g.host_id;
