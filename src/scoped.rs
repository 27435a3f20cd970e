//! [`AppHandle`]: one application's view of the engine. Every endpoint,
//! event, delivery and dead-letter call made through it sees and changes
//! that application's only; an id of another application's record is "not
//! found", exactly like an id that does not exist. [`Hookbus`]'s own
//! endpoint and publish methods are this handle on the default application.

use std::sync::Arc;

use actix::prelude::*;

use crate::Hookbus;
use crate::bus::BusError;
use crate::bus::dead_letters::{DeadLetterFilter, Purge, Replay, RetryDelivery};
use crate::bus::messages::{
    DeleteEndpoint, GetEndpoint, ListEndpoints, Publish, PublishReceipt, RotateSecret,
    SaveEndpoint, Target, Upserted,
};
use crate::directory::Checked;
use crate::endpoint::messages::{GetSnapshot, Snapshot};
use crate::endpoint::spec::EndpointSpec;
use crate::endpoint::test_send::{SendTest, TestReport};
use crate::event::{PublishRequest, RawPayload};
use crate::model::policy::RetryPolicy;
use crate::store::records::{AppRecord, DeadLetter, DeliveryRecord, EndpointRecord, StoredEvent};
use serde_json::Value;

/// One application's endpoints, events, deliveries and dead letters.
/// Cheap to clone. Made by [`Hookbus::app`] or [`Hookbus::default_app`].
///
/// # Examples
/// ```no_run
/// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::Error> {
/// use hookbus::model::app::AppSpec;
/// hub.create_app(AppSpec::new("customer-42")).await?;
/// let app = hub.app("customer-42")?;
/// app.publish(hookbus::PublishRequest::new("order.created", serde_json::json!({"id": 1}))).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AppHandle {
    pub(crate) hub: Hookbus,
    pub(crate) app: Arc<AppRecord>,
}

impl AppHandle {
    /// The application's id (`app_…`).
    pub fn id(&self) -> &str {
        &self.app.id
    }

    /// The application as stored.
    pub fn record(&self) -> &Arc<AppRecord> {
        &self.app
    }

    /// Publish one event to this application's endpoints; resolves once it
    /// and its deliveries are durable.
    pub async fn publish(&self, event: PublishRequest) -> Result<PublishReceipt, BusError> {
        let (mut r, _) = self.publish_checked(vec![event], false).await?;
        r.pop().ok_or(BusError::Unavailable)
    }

    /// Publish several events in one durable batch.
    pub async fn publish_batch(
        &self,
        events: Vec<PublishRequest>,
    ) -> Result<Vec<PublishReceipt>, BusError> {
        Ok(self.publish_checked(events, true).await?.0)
    }

    /// Publish after the catalogue check (unknown types when they are
    /// required, schema violations with their JSON pointers — under
    /// `/events/i` when `batch`) and the application's rate limit; also
    /// answers which deprecated types were published.
    pub async fn publish_checked(
        &self,
        events: Vec<PublishRequest>,
        batch: bool,
    ) -> Result<(Vec<PublishReceipt>, Checked), BusError> {
        self.publish_raw(events, Vec::new(), batch).await
    }

    /// [`Self::publish_checked`] for events whose payload is still text
    /// (`raw[i]` for `events[i]`; empty when none is): the catalogue gets
    /// their trees only when it has types to check them against.
    pub(crate) async fn publish_raw(
        &self,
        mut events: Vec<PublishRequest>,
        raw: Vec<Option<RawPayload>>,
        batch: bool,
    ) -> Result<(Vec<PublishReceipt>, Checked), BusError> {
        let dir = self.hub.directory();
        if dir.reads_payloads() {
            for (e, r) in events.iter_mut().zip(&raw) {
                if let Some(r) = r {
                    let mut metadata = Value::Object(Default::default());
                    r.fill(&mut e.data, &mut metadata);
                    e.metadata = Some(metadata);
                }
            }
        }
        let checked = dir.check_publish(&events, batch)?;
        dir.admit_publish(&self.app.id, events.len())?;
        // One span per event, a child of the caller's (an HTTP request's, or
        // the host's own): deliveries' attempts become its children.
        let spans = events
            .iter()
            .map(|e| {
                tracing::info_span!(
                    "hookbus.publish",
                    event_type = %e.event_type,
                    event_id = tracing::field::Empty,
                    matched = tracing::field::Empty
                )
            })
            .collect();
        let coming = Some(self.hub.store().expect_commit());
        let receipts = self
            .hub
            .submit(Publish {
                events,
                raw,
                about: None,
                spans,
                app: self.app.id.clone(),
                coming,
            })
            .await?;
        Ok((receipts, checked))
    }

    fn save_msg(&self, spec: EndpointSpec, target: Target) -> SaveEndpoint {
        SaveEndpoint {
            app: self.app.id.clone(),
            app_uid: self.app.spec.uid.clone(),
            spec,
            target,
            precompiled: None,
        }
    }

    /// Create or update (by name) an endpoint.
    pub async fn upsert_endpoint(&self, spec: EndpointSpec) -> Result<Upserted, BusError> {
        self.hub.save(self.save_msg(spec, Target::Upsert)).await
    }

    /// Create an endpoint; a taken name (in this application) is a
    /// conflict. An endpoint that keeps the built-in retry policy gets the
    /// application's default one, if it has one.
    pub async fn create_endpoint(&self, mut spec: EndpointSpec) -> Result<Upserted, BusError> {
        if let Some(retry) = &self.app.spec.retry {
            if spec.retry == RetryPolicy::default() {
                spec.retry = retry.clone();
            }
        }
        self.hub.save(self.save_msg(spec, Target::Create)).await
    }

    /// Replace an endpoint's spec (by id or name; renaming allowed).
    pub async fn update_endpoint(
        &self,
        id_or_name: &str,
        spec: EndpointSpec,
    ) -> Result<Upserted, BusError> {
        let target = Target::Update(id_or_name.to_string());
        self.hub.save(self.save_msg(spec, target)).await
    }

    /// New signing secret; the old ones keep signing for `grace` (all
    /// retiring ones stop at once with `revoke_previous`). Returns the new secret.
    pub async fn rotate_secret_with(
        &self,
        id_or_name: &str,
        grace: std::time::Duration,
        revoke_previous: bool,
    ) -> Result<(Arc<EndpointRecord>, String), BusError> {
        let msg = RotateSecret {
            app: self.app.id.clone(),
            endpoint: id_or_name.to_string(),
            grace,
            revoke_previous,
        };
        self.hub.ask(msg).await?
    }

    /// Delete an endpoint; its open deliveries end as dead.
    pub async fn delete_endpoint(&self, id_or_name: &str) -> Result<(), BusError> {
        let msg = DeleteEndpoint {
            app: self.app.id.clone(),
            endpoint: id_or_name.to_string(),
        };
        self.hub.ask(msg).await?
    }

    /// The application's endpoints, in name order.
    pub async fn endpoints(&self) -> Result<Vec<Arc<EndpointRecord>>, BusError> {
        self.hub.ask(ListEndpoints(Some(self.app.id.clone()))).await
    }

    /// One endpoint (by id or name) with its actor's live state.
    pub async fn endpoint_status(
        &self,
        id_or_name: &str,
    ) -> Result<(Arc<EndpointRecord>, Snapshot), BusError> {
        let (record, addr) = self.endpoint_actor(id_or_name).await?;
        let snap = addr
            .send(GetSnapshot)
            .await
            .map_err(|_| BusError::Unavailable)?;
        Ok((record, snap))
    }

    /// Send a `hookbus.test` event to one endpoint now (see [`Hookbus::test_endpoint`]).
    pub async fn test_endpoint(&self, id_or_name: &str) -> Result<TestReport, BusError> {
        let (_, addr) = self.endpoint_actor(id_or_name).await?;
        addr.send(SendTest).await.map_err(|_| BusError::Unavailable)
    }

    async fn endpoint_actor(
        &self,
        id_or_name: &str,
    ) -> Result<(Arc<EndpointRecord>, Addr<crate::endpoint::EndpointActor>), BusError> {
        let msg = GetEndpoint {
            app: self.app.id.clone(),
            endpoint: id_or_name.to_string(),
        };
        self.hub
            .ask(msg)
            .await?
            .ok_or_else(|| BusError::NotFound(format!("endpoint `{id_or_name}`")))
    }

    /// Replay this application's matching dead letters (or with `dry_run` list them).
    pub async fn replay_dead_letters(
        &self,
        mut filter: DeadLetterFilter,
        dry_run: bool,
    ) -> Result<Vec<DeadLetter>, BusError> {
        filter.app = self.app.id.clone();
        self.hub.ask(Replay { filter, dry_run }).await?
    }

    /// Delete this application's matching dead letters; returns what was deleted.
    pub async fn purge_dead_letters(
        &self,
        mut filter: DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, BusError> {
        filter.app = self.app.id.clone();
        self.hub.ask(Purge(filter)).await?
    }

    /// Attempt a finished delivery of this application again.
    pub async fn retry_delivery(&self, delivery_id: &str) -> Result<(), BusError> {
        let msg = RetryDelivery {
            app: self.app.id.clone(),
            delivery: delivery_id.to_string(),
        };
        self.hub.ask(msg).await?
    }

    /// One of this application's events. Operational `hookbus.*` events
    /// about its endpoints are its own; the default application sees them too.
    pub fn event(&self, id: &str) -> Result<Option<StoredEvent>, BusError> {
        let e = self.hub.store().event(id)?;
        Ok(e.filter(|e| {
            e.app == self.app.id
                || (crate::model::app::is_default(&self.app.id)
                    && crate::event::is_reserved_type(&e.event.event_type))
        }))
    }

    /// One of this application's deliveries.
    pub fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, BusError> {
        Ok(self
            .hub
            .store()
            .delivery(id)?
            .filter(|d| d.app == self.app.id))
    }

    /// This application's dead letter of a delivery.
    pub fn dead_letter(&self, delivery_id: &str) -> Result<Option<DeadLetter>, BusError> {
        Ok(self
            .hub
            .store()
            .dead_letter(delivery_id)?
            .filter(|d| d.app == self.app.id))
    }
}
