//! Applications: create, change, resolve, delete; the per-app publish limit.

use std::sync::Arc;
use std::time::Instant;

use super::{Directory, DirectoryError};
use crate::endpoint::rate::Bucket;
use crate::ids::{self, now_ms};
use crate::model::app::{AppSpec, DEFAULT_APP_ID};
use crate::model::policy::RetryPolicy;
use crate::store::Changes;
use crate::store::records::AppRecord;

impl Directory {
    /// The application with this id or uid (not one being deleted).
    pub fn resolve(&self, id_or_uid: &str) -> Option<Arc<AppRecord>> {
        let st = self.read();
        let id = st.by_uid.get(id_or_uid).map_or(id_or_uid, String::as_str);
        if st.deleting.contains(id) {
            return None;
        }
        st.apps.get(id).cloned()
    }

    /// Every application (the default one first, then by id).
    pub fn apps(&self) -> Vec<Arc<AppRecord>> {
        let st = self.read();
        let mut v: Vec<_> = st
            .apps
            .values()
            .filter(|a| !st.deleting.contains(&a.id))
            .cloned()
            .collect();
        v.sort_by(|a, b| (a.id != DEFAULT_APP_ID, &a.id).cmp(&(b.id != DEFAULT_APP_ID, &b.id)));
        v
    }

    /// Create an application; a taken uid is a conflict.
    pub async fn create_app(&self, mut spec: AppSpec) -> Result<Arc<AppRecord>, DirectoryError> {
        let problems = spec.problems();
        if !problems.is_empty() {
            return Err(DirectoryError::Invalid(problems));
        }
        spec.complete();
        let _w = self.writes.lock().await;
        {
            let st = self.read();
            if st.by_uid.contains_key(&spec.uid) {
                return Err(DirectoryError::Conflict(format!(
                    "an application with uid `{}` already exists",
                    spec.uid
                )));
            }
            // The default application is not counted.
            if st.apps.len() > self.settings.max_apps {
                return Err(DirectoryError::Conflict(format!(
                    "the engine already holds apps.max_apps = {} applications",
                    self.settings.max_apps
                )));
            }
        }
        let now = now_ms();
        let rec = AppRecord {
            id: format!("app_{}", ids::next_ulid()),
            spec,
            created_at: now,
            updated_at: now,
        };
        let mut c = Changes::new();
        c.app(&rec);
        self.commit(c).await?;
        let rec = Arc::new(rec);
        let mut st = self.write();
        st.by_uid.insert(rec.spec.uid.clone(), rec.id.clone());
        st.apps.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Replace an application's spec; its uid cannot change.
    pub async fn update_app(
        &self,
        id: &str,
        mut spec: AppSpec,
    ) -> Result<Arc<AppRecord>, DirectoryError> {
        let _w = self.writes.lock().await;
        let old = self
            .resolve(id)
            .ok_or_else(|| DirectoryError::NotFound(format!("application `{id}`")))?;
        let mut problems = spec.problems();
        if spec.uid != old.spec.uid {
            problems.push(("uid".into(), "cannot be changed".into()));
        }
        if !problems.is_empty() {
            return Err(DirectoryError::Invalid(problems));
        }
        spec.complete();
        let rec = AppRecord {
            id: old.id.clone(),
            spec,
            created_at: old.created_at,
            updated_at: now_ms(),
        };
        let mut c = Changes::new();
        c.app(&rec);
        self.commit(c).await?;
        let rec = Arc::new(rec);
        self.write().apps.insert(rec.id.clone(), rec.clone());
        // A changed limit starts a fresh bucket.
        self.buckets().remove(&rec.id);
        Ok(rec)
    }

    /// Hide an application from every look-up while its endpoints are
    /// deleted. The default application cannot be deleted.
    pub fn begin_delete(&self, id_or_uid: &str) -> Result<Arc<AppRecord>, DirectoryError> {
        let app = self
            .resolve(id_or_uid)
            .ok_or_else(|| DirectoryError::NotFound(format!("application `{id_or_uid}`")))?;
        if app.id == DEFAULT_APP_ID {
            return Err(DirectoryError::Conflict(
                "the default application cannot be deleted".into(),
            ));
        }
        self.write().deleting.insert(app.id.clone());
        Ok(app)
    }

    /// The endpoint deletion failed: the application is visible again.
    pub fn abort_delete(&self, id: &str) {
        self.write().deleting.remove(id);
    }

    /// Remove the (hidden) application's row and every token of it.
    pub async fn finish_delete(&self, id: &str) -> Result<(), DirectoryError> {
        let _w = self.writes.lock().await;
        let mut c = Changes::new();
        c.forget_app(id);
        let tokens: Vec<String> = self
            .read()
            .tokens
            .values()
            .filter(|t| t.app == id)
            .map(|t| t.id.clone())
            .collect();
        for t in &tokens {
            c.forget_token(t);
        }
        if let Err(e) = self.commit(c).await {
            self.abort_delete(id);
            return Err(e);
        }
        let mut st = self.write();
        if let Some(a) = st.apps.remove(id) {
            st.by_uid.remove(&a.spec.uid);
        }
        st.tokens.retain(|_, t| t.app != id);
        st.deleting.remove(id);
        drop(st);
        self.buckets().remove(id);
        Ok(())
    }

    /// The retry policy endpoints created in `app` without one get.
    pub fn default_retry(&self, app: &str) -> Option<RetryPolicy> {
        self.read().apps.get(app).and_then(|a| a.spec.retry.clone())
    }

    /// Admit `n` events published to `app` under its rate limit, if it has one.
    pub fn admit_publish(&self, app: &str, n: usize) -> Result<(), DirectoryError> {
        let Some(limit) = self
            .read()
            .apps
            .get(app)
            .and_then(|a| a.spec.rate_limit.clone())
        else {
            return Ok(());
        };
        let now = Instant::now();
        let mut buckets = self.buckets();
        let bucket = buckets
            .entry(app.to_string())
            .or_insert_with(|| Bucket::new(&limit, now));
        bucket.take_n(n as f64, now).map_err(|wait| match wait {
            Some(w) => DirectoryError::RateLimited(w),
            None => DirectoryError::Invalid(vec![(
                "events".into(),
                format!(
                    "a batch of {n} events is larger than the application's rate_limit burst ({})",
                    bucket.burst()
                ),
            )]),
        })
    }

    fn buckets(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Bucket>> {
        self.buckets.lock().unwrap_or_else(|e| e.into_inner())
    }
}
