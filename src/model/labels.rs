//! Labels and name lists as the history stores them: one JSON column each
//! (`{"key":"value"}`, `["a","b"]`). Encoded and decoded here only, so the
//! writer and every reader agree on the form; a column that does not parse
//! (a hand-edited row) reads as empty rather than failing a report.

use std::collections::BTreeMap;
use std::ops::Deref;

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};

/// A container's, volume's or image's labels, read from the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    /// The stored form of `labels`.
    pub fn to_json(labels: &BTreeMap<String, String>) -> String {
        serde_json::to_string(labels).unwrap_or_else(|_| "{}".into())
    }
}

impl Deref for Labels {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromSql for Labels {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Labels(value.as_str().ok().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()))
    }
}

/// A list of names (an image's tags, the containers mounting a volume),
/// read from the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl NameList {
    /// The stored form of `names`.
    pub fn to_json(names: &[String]) -> String {
        serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
    }
}

impl Deref for NameList {
    type Target = Vec<String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl FromSql for NameList {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(NameList(value.as_str().ok().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()))
    }
}

/// Written through [`Labels::to_json`]; here so a `Labels` read back can be
/// bound as it is.
impl rusqlite::ToSql for Labels {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(Labels::to_json(&self.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_and_garbage_reads_as_empty() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let map = BTreeMap::from([("a".to_string(), "x\u{2028}y".to_string())]);
        let names = vec!["web-1".to_string(), "job".to_string()];
        let (l, n): (Labels, NameList) = conn
            .query_row("SELECT ?1, ?2", [Labels::to_json(&map), NameList::to_json(&names)], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((l.0, n.0), (map, names));
        let (l, n): (Labels, NameList) =
            conn.query_row("SELECT 'not json', NULL", [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert!(l.is_empty() && n.is_empty());
    }
}
