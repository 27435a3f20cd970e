//! The engine's API on the handle: publishing, endpoints, applications and
//! dead letters. Each call is the default application's ([`Hookbus::default_app`]);
//! [`Hookbus::app`] gives another's.

use std::sync::Arc;

use crate::bus::BusError;
use crate::bus::dead_letters::DeadLetterFilter;
use crate::bus::messages::{DeleteApp, PublishReceipt, Upserted};
use crate::endpoint::messages::Snapshot;
use crate::endpoint::spec::EndpointSpec;
use crate::endpoint::test_send::TestReport;
use crate::event::PublishRequest;
use crate::model::app::AppSpec;
use crate::scoped::AppHandle;
use crate::store::records::AppRecord;
use crate::store::records::{DeadLetter, EndpointRecord};

use super::Hookbus;

impl Hookbus {
    /// Publish one event; resolves once it and its deliveries are durable.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::bus::BusError> {
    /// let receipt = hub.publish(hookbus::PublishRequest::new("order.created", serde_json::json!({"id": 1}))).await?;
    /// println!("{} → {} deliveries", receipt.id, receipt.deliveries.len());
    /// # Ok(()) }
    /// ```
    pub async fn publish(&self, event: PublishRequest) -> Result<PublishReceipt, BusError> {
        self.default_app().publish(event).await
    }

    /// Publish several events in one durable batch.
    pub async fn publish_batch(
        &self,
        events: Vec<PublishRequest>,
    ) -> Result<Vec<PublishReceipt>, BusError> {
        self.default_app().publish_batch(events).await
    }

    /// Create or update (by name) an endpoint.
    pub async fn upsert_endpoint(&self, spec: EndpointSpec) -> Result<Upserted, BusError> {
        self.default_app().upsert_endpoint(spec).await
    }

    /// Create an endpoint; a taken name is a conflict. The returned record
    /// holds the generated signing secret (show it to the receiver once).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::Error> {
    /// use hookbus::endpoint::spec::EndpointSpec;
    /// let created = hub
    ///     .create_endpoint(EndpointSpec::new("billing", "https://billing.example/hooks", &["invoice.**"]))
    ///     .await?;
    /// println!("secret: {}", created.record.spec.signing.secrets[0]);
    /// # Ok(()) }
    /// ```
    pub async fn create_endpoint(&self, spec: EndpointSpec) -> Result<Upserted, BusError> {
        self.default_app().create_endpoint(spec).await
    }

    /// Replace an endpoint's spec (by id or name; renaming allowed).
    pub async fn update_endpoint(
        &self,
        id_or_name: &str,
        spec: EndpointSpec,
    ) -> Result<Upserted, BusError> {
        self.default_app().update_endpoint(id_or_name, spec).await
    }

    /// New signing secret; the old ones keep signing for `grace`. Returns the new secret.
    pub async fn rotate_secret(
        &self,
        id_or_name: &str,
        grace: std::time::Duration,
    ) -> Result<(Arc<EndpointRecord>, String), BusError> {
        self.rotate_secret_with(id_or_name, grace, false).await
    }

    /// Like [`Hookbus::rotate_secret`]; with `revoke_previous` every secret
    /// still retiring from earlier rotations stops signing at once too, so
    /// only the new one signs (after a leak).
    pub async fn rotate_secret_with(
        &self,
        id_or_name: &str,
        grace: std::time::Duration,
        revoke_previous: bool,
    ) -> Result<(Arc<EndpointRecord>, String), BusError> {
        self.default_app()
            .rotate_secret_with(id_or_name, grace, revoke_previous)
            .await
    }

    /// Delete an endpoint; its open deliveries end as dead.
    pub async fn delete_endpoint(&self, id_or_name: &str) -> Result<(), BusError> {
        self.default_app().delete_endpoint(id_or_name).await
    }

    /// Every endpoint of the default application, in name order.
    pub async fn endpoints(&self) -> Result<Vec<Arc<EndpointRecord>>, BusError> {
        self.default_app().endpoints().await
    }

    /// One endpoint (by id or name) with its actor's live state.
    pub async fn endpoint_status(
        &self,
        id_or_name: &str,
    ) -> Result<(Arc<EndpointRecord>, Snapshot), BusError> {
        self.default_app().endpoint_status(id_or_name).await
    }

    /// Send a `hookbus.test` event to one endpoint now, through its real
    /// pipeline (format or transform, redaction, every secret still
    /// signing), once: no retry, no dead letter, no effect on its breaker or
    /// stats. Kept in its history as a delivery marked `test`.
    pub async fn test_endpoint(&self, id_or_name: &str) -> Result<TestReport, BusError> {
        self.default_app().test_endpoint(id_or_name).await
    }

    /// One application's view of the engine, by id or uid.
    pub fn app(&self, id_or_uid: &str) -> Result<AppHandle, BusError> {
        let app = self
            .inner
            .directory
            .resolve(id_or_uid)
            .ok_or_else(|| BusError::NotFound(format!("application `{id_or_uid}`")))?;
        Ok(AppHandle {
            hub: self.clone(),
            app,
        })
    }

    /// The default application: what the flat routes, the config file and
    /// this handle's own endpoint and publish methods work on.
    pub fn default_app(&self) -> AppHandle {
        let app = self
            .inner
            .directory
            .resolve(crate::model::app::DEFAULT_APP_ID)
            .unwrap_or_else(|| Arc::new(crate::directory::default_app()));
        AppHandle {
            hub: self.clone(),
            app,
        }
    }

    /// Create an application (tenant); a taken uid is a conflict.
    pub async fn create_app(&self, spec: AppSpec) -> Result<Arc<AppRecord>, BusError> {
        Ok(self.inner.directory.create_app(spec).await?)
    }

    /// Replace an application's spec (its uid stays).
    pub async fn update_app(
        &self,
        id_or_uid: &str,
        spec: AppSpec,
    ) -> Result<Arc<AppRecord>, BusError> {
        let id = self.app(id_or_uid)?.app.id.clone();
        Ok(self.inner.directory.update_app(&id, spec).await?)
    }

    /// Delete an application: its endpoints are deleted (their pending
    /// deliveries end as dead, as with any deleted endpoint), its tokens
    /// revoked, and its dead letters purged; events and delivery history age
    /// out with `storage.retention`. Answers how many endpoints went.
    pub async fn delete_app(&self, id_or_uid: &str) -> Result<usize, BusError> {
        let dir = &self.inner.directory;
        let app = dir.begin_delete(id_or_uid)?;
        let handle = AppHandle {
            hub: self.clone(),
            app: app.clone(),
        };
        let removed = match self.ask(DeleteApp(app.id.clone())).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) | Err(e) => {
                dir.abort_delete(&app.id);
                return Err(e);
            }
        };
        // Nothing can replay them now: their endpoints are gone.
        handle
            .purge_dead_letters(DeadLetterFilter::default())
            .await?;
        dir.finish_delete(&app.id).await?;
        Ok(removed)
    }

    /// Replay matching dead letters (fresh attempt budget, same delivery ids);
    /// with `dry_run` only report them.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) -> Result<(), hookbus::Error> {
    /// use hookbus::bus::dead_letters::DeadLetterFilter;
    /// let filter = DeadLetterFilter { endpoint: Some("billing".into()), ..Default::default() };
    /// let replayed = hub.replay_dead_letters(filter, false).await?;
    /// println!("{} deliveries queued again", replayed.len());
    /// # Ok(()) }
    /// ```
    pub async fn replay_dead_letters(
        &self,
        filter: DeadLetterFilter,
        dry_run: bool,
    ) -> Result<Vec<DeadLetter>, BusError> {
        self.default_app()
            .replay_dead_letters(filter, dry_run)
            .await
    }

    /// Attempt a finished (delivered, dead, filtered) delivery again.
    pub async fn retry_delivery(&self, delivery_id: &str) -> Result<(), BusError> {
        self.default_app().retry_delivery(delivery_id).await
    }

    /// Delete matching dead letters; returns what was deleted.
    pub async fn purge_dead_letters(
        &self,
        filter: DeadLetterFilter,
    ) -> Result<Vec<DeadLetter>, BusError> {
        self.default_app().purge_dead_letters(filter).await
    }
}
