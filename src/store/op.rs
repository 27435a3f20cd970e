//! One row write (put or delete in a column family) and how it lands in a
//! RocksDB batch. Private to the store: everything else says what changed
//! through [`Changes`](super::Changes).

use rocksdb::{ColumnFamily, DB, WriteBatch};
use serde::Serialize;

use super::Cf;

/// One write in a batch.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// Set `key` to `value`.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Delete(Cf, Vec<u8>),
}

impl Op {
    /// A put of a JSON-encoded record.
    pub(super) fn put_json<T: Serialize>(cf: Cf, key: impl Into<Vec<u8>>, value: &T) -> Op {
        // Records are plain data; serialising them cannot fail.
        Op::Put(
            cf,
            key.into(),
            serde_json::to_vec(value).unwrap_or_default(),
        )
    }

    pub(super) fn apply(&self, db: &DB, batch: &mut WriteBatch) {
        match self {
            Op::Put(c, k, v) => batch.put_cf(cf(db, *c), k, v),
            Op::Delete(c, k) => batch.delete_cf(cf(db, *c), k),
        }
    }
}

/// Column-family handle; every family is created at open, so it exists.
pub(super) fn cf(db: &DB, c: Cf) -> &ColumnFamily {
    db.cf_handle(c.name())
        .expect("column families are created at open")
}
