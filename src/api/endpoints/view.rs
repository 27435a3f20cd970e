//! How endpoints look through the API: the redacted view, pages, limits, times.

use serde::Serialize;

use crate::api::ApiError;
use crate::endpoint::spec::{Auth, EndpointSpec};
use crate::store::records::EndpointRecord;

/// Shown instead of secrets and credentials after creation.
pub const REDACTED: &str = "***";

/// An endpoint as the API shows it: credentials and secrets redacted.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// `ep_<ULID>`.
    pub id: String,
    /// The declared endpoint, redacted.
    #[serde(flatten)]
    pub spec: EndpointSpec,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// Replace every secret and credential with `***`.
pub fn redact(spec: &EndpointSpec) -> EndpointSpec {
    let mut s = spec.clone();
    s.signing.secrets = s
        .signing
        .secrets
        .iter()
        .map(|_| REDACTED.to_string())
        .collect();
    s.auth = match s.auth {
        Auth::None => Auth::None,
        Auth::Basic { username, .. } => Auth::Basic {
            username,
            password: REDACTED.into(),
        },
        Auth::Bearer { .. } => Auth::Bearer {
            token: REDACTED.into(),
        },
        Auth::ApiKey { header, .. } => Auth::ApiKey {
            header,
            key: REDACTED.into(),
        },
    };
    s
}

/// RFC 3339 (ms) of a Unix-ms time.
pub fn rfc3339(ms: u64) -> String {
    crate::ids::rfc3339_ms(ms)
}

impl From<&EndpointRecord> for EndpointView {
    fn from(r: &EndpointRecord) -> Self {
        Self {
            id: r.id.clone(),
            spec: redact(&r.spec),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// A page of results.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items.
    pub data: Vec<T>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A list's `limit`: 1..=1000, default 100; anything else is a 422 (not
/// silently clamped, so a client learns its page size is not what it asked).
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=1000) => Ok(n),
        Some(n) => Err(ApiError::invalid(vec![(
            "query.limit".into(),
            format!("{n} is not between 1 and 1000"),
        )])),
    }
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` items read after the cursor: the extra
    /// one only tells that there is a next page, whose cursor is the last kept item's key.
    pub fn from_overfetch<S>(
        mut items: Vec<S>,
        limit: usize,
        key: impl Fn(&S) -> String,
        view: impl Fn(S) -> T,
    ) -> Self {
        let next_cursor = (items.len() > limit).then(|| {
            items.truncate(limit);
            key(&items[limit - 1])
        });
        Page {
            data: items.into_iter().map(view).collect(),
            next_cursor,
        }
    }
}
