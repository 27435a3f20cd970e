//! The directory: applications (tenants), their API tokens and the
//! event-type catalogue, held in memory for every request and written
//! through the store.
//!
//! Reads are lock-free in practice (a `RwLock` read per request: token
//! look-up, app resolution, publish checks); writes are rare and serialised
//! by one async mutex, each committed (fsync per `storage.durability`)
//! before memory changes, so what a request sees is always durable.
//!
//! Deleting an application is the one write that needs the bus (its
//! endpoints and their queues): [`Directory::begin_delete`] hides it at
//! once, the front end asks the bus to delete the endpoints, then
//! [`Directory::finish_delete`] removes its row and tokens.

mod apps;
mod catalogue;
mod tokens;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

pub use catalogue::{CatalogueEntry, Checked};
pub use tokens::{NewToken, Principal};

use crate::endpoint::rate::Bucket;
use crate::model::app::{AppSpec, DEFAULT_APP_ID, DEFAULT_APP_UID};
use crate::store::records::{AppRecord, TokenRecord};
use crate::store::{Store, StoreError};

/// Errors from directory operations.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Invalid input, every problem as `(field, reason)`.
    #[error("invalid input: {}", .0.iter().map(|(f, m)| format!("{f}: {m}")).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<(String, String)>),
    /// A uid or name already taken.
    #[error("{0}")]
    Conflict(String),
    /// No such application, token or event type.
    #[error("{0} not found")]
    NotFound(String),
    /// The application's publish rate limit is spent; try again after this long.
    #[error("the application's rate limit is exceeded; retry in {0:?}")]
    RateLimited(std::time::Duration),
    /// The store failed; nothing changed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings from the config file.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `events.require_known_types`: publishing a type missing from the catalogue is refused.
    pub require_known_types: bool,
    /// `apps.max_apps`: applications besides the default one.
    pub max_apps: usize,
}

#[derive(Default)]
struct State {
    /// id → record, the default application included.
    apps: BTreeMap<String, Arc<AppRecord>>,
    /// uid → id.
    by_uid: HashMap<String, String>,
    /// Being deleted: no longer resolvable.
    deleting: HashSet<String>,
    /// SHA-256 (hex) → token.
    tokens: HashMap<String, Arc<TokenRecord>>,
    /// The catalogue, by name.
    types: BTreeMap<String, Arc<CatalogueEntry>>,
}

/// Applications, tokens and the catalogue. Cheap to share (`Arc`).
pub struct Directory {
    store: Store,
    settings: Settings,
    state: RwLock<State>,
    /// One writer at a time: a uid check and its insert are one step.
    writes: tokio::sync::Mutex<()>,
    /// Per-application publish buckets (in memory: a restart refills them).
    buckets: Mutex<HashMap<String, Bucket>>,
}

/// The default application's record (kept in the store only once changed).
pub fn default_app() -> AppRecord {
    let mut spec = AppSpec::new(DEFAULT_APP_UID);
    spec.name = "Default".into();
    AppRecord {
        id: DEFAULT_APP_ID.into(),
        spec,
        created_at: 0,
        updated_at: 0,
    }
}

fn read_state(store: &Store) -> Result<State, StoreError> {
    let mut state = State::default();
    let mut records = store.apps()?;
    if !records.iter().any(|a| a.id == DEFAULT_APP_ID) {
        records.push(default_app());
    }
    for a in records {
        state.by_uid.insert(a.spec.uid.clone(), a.id.clone());
        state.apps.insert(a.id.clone(), Arc::new(a));
    }
    for t in store.tokens()? {
        state.tokens.insert(t.sha256.clone(), Arc::new(t));
    }
    for t in store.event_types()? {
        let name = t.spec.name.clone();
        match CatalogueEntry::compile(t) {
            Ok(e) => {
                state.types.insert(name, Arc::new(e));
            }
            // Checked when saved; only a newer or damaged store gets here.
            Err(p) => tracing::error!(event_type = %name, problems = ?p,
                "A catalogued schema no longer compiles; the type is left out."),
        }
    }
    Ok(state)
}

impl Directory {
    /// Load everything from the store.
    pub fn load(store: Store, settings: Settings) -> Result<Self, StoreError> {
        let state = read_state(&store)?;
        Ok(Self {
            store,
            settings,
            state: RwLock::new(state),
            writes: tokio::sync::Mutex::new(()),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Read everything from the store again: a cluster node whose
    /// applications, tokens or catalogue another node changed.
    pub fn reload(&self) -> Result<(), StoreError> {
        let state = read_state(&self.store)?;
        *self.write() = state;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock means a panic mid-update elsewhere; the maps are
        // still whole (every update is a single insert or remove).
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    async fn commit(&self, changes: crate::store::Changes) -> Result<(), DirectoryError> {
        self.store
            .commit(changes)
            .await
            .map_err(DirectoryError::from)
    }
}
