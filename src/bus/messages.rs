//! Messages the bus handles, and what they answer.

use std::sync::Arc;

use actix::{Addr, Message};

use super::BusError;
use crate::endpoint::EndpointActor;
use crate::endpoint::spec::EndpointSpec;
use crate::event::PublishRequest;
use crate::store::records::EndpointRecord;

/// Publish events; answered once they and their deliveries are durable.
#[derive(Message)]
#[rtype(result = "Result<Vec<PublishReceipt>, BusError>")]
pub struct Publish {
    /// The events.
    pub events: Vec<PublishRequest>,
    /// Payloads kept as text, by event (`raw[i]` for `events[i]`; empty
    /// when none is): the delivered body is spliced from them.
    pub raw: Vec<Option<crate::event::RawPayload>>,
    /// For operational `hookbus.*` events: the endpoint they are about, which never receives them.
    pub about: Option<String>,
    /// One publish span per event (may be empty): each delivery's attempts are its children.
    pub spans: Vec<tracing::Span>,
    /// The application published to: only its endpoints receive the events
    /// (operational events also reach the default application's).
    pub app: String,
    /// This publish announced to the group committer (see
    /// [`crate::store::Coming`]); `None` when not announced.
    pub coming: Option<crate::store::Coming>,
}

/// Where a [`Submit`]ted publish's answer goes.
pub(crate) type Answer = tokio::sync::oneshot::Sender<Result<Vec<PublishReceipt>, BusError>>;

/// A [`Publish`] whose answer goes to `answer` from the thread that wrote
/// it (the committer's), not back through the bus: the bus handles it and
/// is done, and is not woken again when the batch is durable. What the
/// publish path inside the engine sends; [`Publish`] is the same, answered
/// the actix way.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Submit {
    /// The publish.
    pub(crate) publish: Publish,
    /// Told the receipts (or why not) once they are durable.
    pub(crate) answer: Answer,
}

pub use crate::model::receipt::{PublishReceipt, ReceiptDelivery};

/// What a save may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Create, or update the endpoint with the same name (config file, library).
    Upsert,
    /// Create; an existing name is a conflict (API `POST`).
    Create,
    /// Update this endpoint (id or name); it may be renamed (API `PATCH`).
    Update(String),
}

/// Create or update an endpoint.
#[derive(Message)]
#[rtype(result = "Result<Upserted, BusError>")]
pub struct SaveEndpoint {
    /// The application (id) it is in.
    pub app: String,
    /// That application's uid (for the metric label).
    pub app_uid: String,
    /// The full new spec.
    pub spec: EndpointSpec,
    /// Create, update or either.
    pub target: Target,
    /// The script, compiled off the bus (compiled on the bus when `None`
    /// or made from another spec).
    pub precompiled: Option<crate::transform::builtin::Precompiled>,
}

/// Replace the signing secret; the old ones keep signing for `grace`.
#[derive(Message)]
#[rtype(result = "Result<(Arc<EndpointRecord>, String), BusError>")]
pub struct RotateSecret {
    /// The application (id) to look in.
    pub app: String,
    /// Endpoint id or name.
    pub endpoint: String,
    /// How long the old secrets keep signing.
    pub grace: std::time::Duration,
    /// Drop the secrets retiring from earlier rotations now, too.
    pub revoke_previous: bool,
}

/// Delete an endpoint; its pending deliveries end as dead ("endpoint deleted").
#[derive(Message)]
#[rtype(result = "Result<(), BusError>")]
pub struct DeleteEndpoint {
    /// The application (id) to look in.
    pub app: String,
    /// Endpoint id or name.
    pub endpoint: String,
}

/// Delete every endpoint of an application in one batch (the application
/// is being deleted); their pending deliveries end as dead, and the bus
/// refuses new endpoints in it from now on. Answers how many were deleted.
#[derive(Message)]
#[rtype(result = "Result<usize, BusError>")]
pub struct DeleteApp(pub String);

/// The result of an upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    /// The stored endpoint.
    pub record: Arc<EndpointRecord>,
    /// Whether it was new.
    pub created: bool,
}

/// Every endpoint of one application (`None`: of all), in name order.
#[derive(Message)]
#[rtype(result = "Vec<Arc<EndpointRecord>>")]
pub struct ListEndpoints(pub Option<String>);

/// Let every endpoint finish its in-flight attempts and start no new ones.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DrainAll;

/// Stop every endpoint actor (shutdown); queued rows stay durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

/// Look up one endpoint by id or name within an application.
#[derive(Message)]
#[rtype(result = "Option<(Arc<EndpointRecord>, Addr<EndpointActor>)>")]
pub struct GetEndpoint {
    /// The application (id) to look in.
    pub app: String,
    /// Endpoint id or name.
    pub endpoint: String,
}
