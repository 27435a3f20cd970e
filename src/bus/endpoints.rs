//! Endpoint lifecycle on the bus: create/update/upsert, rotation, deletion.

use std::sync::Arc;

use actix::prelude::*;

use super::last_applied::{self, Applied};
use super::messages::{DeleteApp, DeleteEndpoint, RotateSecret, SaveEndpoint, Target, Upserted};
use super::{Bus, BusError, commit_then, fail};
use crate::endpoint::actor::TransformSlot;
use crate::endpoint::messages::Stop;
use crate::endpoint::spec::EndpointSpec;
use crate::ids::{self, now_ms};
use crate::model::app::DEFAULT_APP_ID;
use crate::sign;
use crate::store::Changes;
use crate::store::records::{DeliveryStatus, EndpointRecord, RetiringSecret};
use crate::transform::builtin;

type Reply<T> = ResponseActFuture<Bus, Result<T, BusError>>;

impl Bus {
    /// The "last-applied" merge of a declared spec with the stored endpoint of
    /// the same name; logs each field where the declaration overrides an API change.
    fn merge_declared(&self, app: &str, mut declared: EndpointSpec) -> (EndpointSpec, Applied) {
        // Compare in the form it is stored in (normalised URL), or every start
        // would see a "change".
        if let Ok(u) = crate::endpoint::spec::check_url(&declared.url) {
            declared.url = u.to_string();
        }
        let store = self.store().clone();
        let fp = move |b: &[u8]| store.fingerprint(b);
        let decl_json = serde_json::to_value(&declared).unwrap_or_default();
        let Some(old) = self.existing(app, &declared.name) else {
            return (declared, last_applied::merge(&decl_json, None, fp).applied);
        };
        let stored_json = serde_json::to_value(&old.spec).unwrap_or_default();
        let m = last_applied::merge(&decl_json, Some((&stored_json, old.applied.as_ref())), fp);
        let merged: Option<EndpointSpec> = serde_json::from_value(m.spec)
            .ok()
            .filter(|s: &EndpointSpec| s.problems().is_empty());
        let Some(merged) = merged else {
            tracing::warn!(endpoint = %declared.name,
                "Changes made through the API do not combine with the config file's entry; the entry applies as written.");
            return (declared, m.applied);
        };
        for field in &m.overridden {
            tracing::warn!(endpoint = %declared.name, %field,
                "The config file changed `{field}`, overriding a change made through the API.");
        }
        if !m.kept.is_empty() {
            tracing::info!(endpoint = %declared.name, fields = %m.kept.join(", "),
                "Kept changes made through the API (the config file's entry for them is unchanged).");
        }
        (merged, m.applied)
    }

    fn existing(&self, app: &str, id_or_name: &str) -> Option<Arc<EndpointRecord>> {
        let id = self.endpoint_id(app, id_or_name)?;
        self.endpoints.get(&id).map(|r| r.record.clone())
    }

    /// Persist `record`, then (re)register it with its compiled script.
    fn persist(
        &mut self,
        record: Arc<EndpointRecord>,
        compiled: TransformSlot,
        created: bool,
    ) -> Reply<Upserted> {
        let mut changes = Changes::new();
        self.store().save_endpoint(&mut changes, &record);
        commit_then(self, changes, move |act| {
            if let Some(old) = act.endpoints.get(&record.id) {
                if old.record.spec.name != record.spec.name {
                    act.names
                        .remove(&(old.record.app.clone(), old.record.spec.name.clone()));
                }
            }
            act.register(record.clone(), compiled, 0);
            Ok(Upserted { record, created })
        })
    }
}

impl Handler<SaveEndpoint> for Bus {
    type Result = Reply<Upserted>;

    /// Validate, compile, and store; secrets are kept when the new spec gives none.
    fn handle(&mut self, msg: SaveEndpoint, _: &mut Context<Self>) -> Self::Result {
        let mut spec = msg.spec;
        let app = msg.app;
        if self.deleted_apps.contains(&app) {
            return fail(BusError::NotFound(format!("application `{app}`")));
        }
        let problems = spec.problems();
        if !problems.is_empty() {
            return fail(BusError::Invalid(problems));
        }
        // A declared endpoint (config file, library): keep what the API changed
        // unless the declaration itself changed that field.
        let mut applied = None;
        if msg.target == Target::Upsert {
            let (merged, fingerprints) = self.merge_declared(&app, spec);
            spec = merged;
            applied = Some(fingerprints);
        }
        // Compile now so a broken script is a 422 naming line and column, not a dead letter later.
        let compiled = msg
            .precompiled
            .and_then(|p| p.for_spec(&spec))
            .unwrap_or_else(|| {
                builtin::for_endpoint(&self.w.engine, &spec, self.w.max_script_bytes)
            });
        let compiled = match compiled {
            Ok(c) => c,
            Err(e) => {
                let field = match &spec.transform {
                    Some(t) if t.path.is_some() => "transform.path",
                    Some(_) => "transform.script",
                    None => "format",
                };
                return fail(BusError::Invalid(vec![(field.into(), e.to_string())]));
            }
        };
        let by_name = self.existing(&app, &spec.name);
        let existing = match &msg.target {
            Target::Upsert => by_name,
            Target::Create => match by_name {
                Some(_) => {
                    return fail(BusError::Conflict(format!(
                        "an endpoint named `{}` already exists",
                        spec.name
                    )));
                }
                None => None,
            },
            Target::Update(id) => {
                let Some(old) = self.existing(&app, id) else {
                    return fail(BusError::NotFound(format!("endpoint `{id}`")));
                };
                if by_name.is_some_and(|other| other.id != old.id) {
                    return fail(BusError::Conflict(format!(
                        "an endpoint named `{}` already exists",
                        spec.name
                    )));
                }
                Some(old)
            }
        };
        if existing.is_none() && app != DEFAULT_APP_ID {
            let held = self
                .endpoints
                .values()
                .filter(|r| r.record.app == app)
                .count();
            if held >= self.w.max_endpoints_per_app {
                return fail(BusError::Conflict(format!(
                    "the application already has apps.max_endpoints_per_app = {} endpoints",
                    self.w.max_endpoints_per_app
                )));
            }
        }
        if let Some(old) = &existing {
            if spec.signing.secrets.is_empty() && spec.signing.scheme == old.spec.signing.scheme {
                spec.signing.secrets = old.spec.signing.secrets.clone();
            }
        }
        spec.complete();
        let now = now_ms();
        let record = Arc::new(match &existing {
            Some(old) => EndpointRecord {
                id: old.id.clone(),
                app: old.app.clone(),
                app_uid: old.app_uid.clone(),
                spec,
                created_at: old.created_at,
                updated_at: now,
                version: old.version + 1,
                retiring_secrets: old
                    .retiring_secrets
                    .iter()
                    .filter(|s| s.expires_at > now)
                    .cloned()
                    .collect(),
                applied: applied.or_else(|| old.applied.clone()),
            },
            None => EndpointRecord {
                id: ids::endpoint_id(),
                app,
                app_uid: msg.app_uid,
                spec,
                created_at: now,
                updated_at: now,
                version: 1,
                retiring_secrets: Vec::new(),
                applied,
            },
        });
        self.persist(record, compiled.map(Ok), existing.is_none())
    }
}

impl Handler<RotateSecret> for Bus {
    type Result = Reply<(Arc<EndpointRecord>, String)>;

    /// New secret now; the old ones keep signing until the grace period ends.
    fn handle(&mut self, msg: RotateSecret, _: &mut Context<Self>) -> Self::Result {
        let Some(old) = self.existing(&msg.app, &msg.endpoint) else {
            return fail(BusError::NotFound(format!("endpoint `{}`", msg.endpoint)));
        };
        if old.spec.signing.scheme == sign::Scheme::None {
            return fail(BusError::Invalid(vec![(
                "signing.scheme".into(),
                "the endpoint is unsigned".into(),
            )]));
        }
        let now = now_ms();
        let expires_at = now + msg.grace.as_millis() as u64;
        let mut spec = old.spec.clone();
        let secret = match spec.signing.scheme {
            sign::Scheme::Sha256 => sign::generate_secret().replace(sign::SECRET_PREFIX, ""),
            _ => sign::generate_secret(),
        };
        let mut retiring: Vec<RetiringSecret> = old
            .retiring_secrets
            .iter()
            .filter(|s| s.expires_at > now && !msg.revoke_previous)
            .cloned()
            .collect();
        if !msg.grace.is_zero() && !msg.revoke_previous {
            retiring.extend(
                spec.signing
                    .secrets
                    .drain(..)
                    .map(|secret| RetiringSecret { secret, expires_at }),
            );
        }
        spec.signing.secrets = vec![secret.clone()];
        let record = Arc::new(EndpointRecord {
            id: old.id.clone(),
            app: old.app.clone(),
            app_uid: old.app_uid.clone(),
            spec,
            created_at: old.created_at,
            updated_at: now,
            version: old.version + 1,
            retiring_secrets: retiring,
            applied: old.applied.clone(),
        });
        // Only the secrets changed: the compiled script stays.
        let compiled = self
            .endpoints
            .get(&old.id)
            .and_then(|r| r.transform.clone());
        Box::pin(
            self.persist(record, compiled, false)
                .map(move |res, _, _| res.map(|u| (u.record, secret))),
        )
    }
}

impl Handler<crate::endpoint::messages::ToBus> for Bus {
    type Result = ();

    /// An endpoint actor's request, turned into the bus's own messages.
    fn handle(&mut self, msg: crate::endpoint::messages::ToBus, ctx: &mut Context<Self>) {
        use crate::endpoint::messages::ToBus;
        match msg {
            ToBus::Announce(entry) => self.announce(*entry, ctx),
            ToBus::Save { endpoint_id, spec } => {
                let Some(reg) = self.endpoints.get(&endpoint_id) else {
                    return;
                };
                ctx.notify(SaveEndpoint {
                    app: reg.record.app.clone(),
                    app_uid: reg.record.app_uid.clone(),
                    precompiled: None,
                    spec: *spec,
                    target: Target::Update(endpoint_id),
                })
            }
        }
    }
}

impl Bus {
    /// Unregister `doomed` now (no publish matches them from here on) and
    /// resolve once each actor has stopped and the outcomes it had buffered
    /// are written. Only then are the endpoints' queues read and ended:
    /// an outcome handed over after that would put back the row the
    /// deletion just ended (a retry's new queue row, a "HTTP 503" over
    /// "endpoint deleted").
    fn retire(
        &mut self,
        doomed: &[Arc<EndpointRecord>],
    ) -> impl std::future::Future<Output = ()> + 'static {
        let stops: Vec<_> = doomed
            .iter()
            .filter_map(|r| self.detach(r))
            .map(|reg| reg.addr.send(Stop))
            .collect();
        let store = self.store().clone();
        async move {
            for stop in stops {
                // An actor already gone has nothing buffered.
                let _ = stop.await;
            }
            // Queued after every outcome those actors handed over.
            let _ = store.flush().await;
        }
    }

    /// `changes` gets the end of a deleted endpoint's queue: every queue
    /// row goes, and every open delivery ends dead with "endpoint
    /// deleted". Open deliveries are found from the endpoint's delivery
    /// index, not only from its queue: in a cluster the queue this node
    /// sees may already be ended while a retry's state (written by the
    /// driving node's actor after that) still says the delivery is open.
    fn end_queue(
        &self,
        endpoint_id: &str,
        changes: &mut Changes,
    ) -> Result<(), crate::store::StoreError> {
        for (ticket, _) in self.store().queue_page(endpoint_id, None, usize::MAX)? {
            changes.dequeue(endpoint_id, ticket);
        }
        let open = self
            .store()
            .endpoint_deliveries(endpoint_id, None, false, usize::MAX, |d| d.status.is_open())?;
        for mut d in open {
            d.status = DeliveryStatus::Dead;
            d.last_error = Some("endpoint deleted".into());
            d.updated_at = now_ms();
            changes.delivery(&d);
        }
        Ok(())
    }

    /// Retire `doomed`, then end their queues (and, with `delete_rows`,
    /// delete their endpoint rows) in one commit; answers `answer` once
    /// that is durable.
    pub(super) fn end_endpoints<T: 'static>(
        &mut self,
        doomed: Vec<Arc<EndpointRecord>>,
        delete_rows: bool,
        answer: T,
    ) -> Reply<T> {
        let retired = self.retire(&doomed);
        Box::pin(retired.into_actor(self).then(move |(), act, _| {
            let mut changes = Changes::new();
            for old in &doomed {
                if delete_rows {
                    changes.delete_endpoint(&old.id);
                }
                if let Err(e) = act.end_queue(&old.id, &mut changes) {
                    return fail(e.into());
                }
            }
            commit_then(act, changes, move |_| Ok(answer))
        }))
    }
}

impl Handler<DeleteEndpoint> for Bus {
    type Result = Reply<()>;

    /// Stop the actor and remove the endpoint; open deliveries end as dead.
    fn handle(&mut self, msg: DeleteEndpoint, _: &mut Context<Self>) -> Self::Result {
        let Some(old) = self.existing(&msg.app, &msg.endpoint) else {
            return fail(BusError::NotFound(format!("endpoint `{}`", msg.endpoint)));
        };
        self.end_endpoints(vec![old], true, ())
    }
}

impl Handler<DeleteApp> for Bus {
    type Result = Reply<usize>;

    /// Every endpoint of the application goes, in one batch.
    fn handle(&mut self, msg: DeleteApp, _: &mut Context<Self>) -> Self::Result {
        if msg.0 == DEFAULT_APP_ID {
            return fail(BusError::Conflict(
                "the default application cannot be deleted".into(),
            ));
        }
        self.deleted_apps.insert(msg.0.clone());
        let doomed: Vec<Arc<EndpointRecord>> = self
            .endpoints
            .values()
            .filter(|r| r.record.app == msg.0)
            .map(|r| r.record.clone())
            .collect();
        self.subs.remove(&msg.0);
        let n = doomed.len();
        self.end_endpoints(doomed, true, n)
    }
}
