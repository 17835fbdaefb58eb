//! Labels and name lists as the history stores them: one JSON column each
//! (`{"key":"value"}`, `["a","b"]`). Encoded and decoded here only, so the
//! writer and every reader agree on the form; a column that does not parse
//! (a hand-edited row) reads as empty rather than failing a report.

use std::collections::BTreeMap;
use std::ops::Deref;

use rusqlite::types::{FromSql, FromSqlResult, ToSqlOutput, ValueRef};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON column's value, read from the history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

/// A container's, volume's or image's labels.
pub type Labels = Json<BTreeMap<String, String>>;

/// A list of names (an image's tags, the containers mounting a volume).
pub type NameList = Json<Vec<String>>;

impl<T: Serialize + Default> Json<T> {
    /// The stored form of `value` (the empty value's, should it not
    /// serialize: a map or list of strings always does).
    pub fn to_json(value: &T) -> String {
        serde_json::to_string(value).or_else(|_| serde_json::to_string(&T::default())).unwrap_or_default()
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<T: DeserializeOwned + Default> FromSql for Json<T> {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        Ok(Json(value.as_str().ok().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()))
    }
}

/// Written through [`Json::to_json`]; here so a value read back can be
/// bound as it is.
impl<T: Serialize + Default> rusqlite::ToSql for Json<T> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(Self::to_json(&self.0)))
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
