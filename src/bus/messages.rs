//! Messages the bus handles, and what they answer.

use std::sync::Arc;

use actix::{Addr, Message};
use serde::{Deserialize, Serialize};

use super::BusError;
use crate::endpoint::EndpointActor;
use crate::endpoint::spec::EndpointSpec;
use crate::event::PublishRequest;
use crate::store::records::EndpointRecord;

/// Publish events; answered once they and their deliveries are durable.
#[derive(Message)]
#[rtype(result = "Result<Vec<PublishReceipt>, BusError>")]
pub struct Publish(pub Vec<PublishRequest>);

/// One delivery created by a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptDelivery {
    /// `dlv_<ULID>`.
    pub id: String,
    /// Its endpoint.
    pub endpoint_id: String,
}

/// The answer to one published event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishReceipt {
    /// The event id.
    pub id: String,
    /// One per matched endpoint.
    pub deliveries: Vec<ReceiptDelivery>,
}

/// Create or update an endpoint by name.
#[derive(Message)]
#[rtype(result = "Result<Upserted, BusError>")]
pub struct UpsertEndpoint(pub EndpointSpec);

/// The result of an upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    /// The stored endpoint.
    pub record: Arc<EndpointRecord>,
    /// Whether it was new.
    pub created: bool,
}

/// Every endpoint, in name order.
#[derive(Message)]
#[rtype(result = "Vec<Arc<EndpointRecord>>")]
pub struct ListEndpoints;

/// Stop every endpoint actor (shutdown); queued rows stay durable.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopAll;

/// Look up one endpoint by id or name.
#[derive(Message)]
#[rtype(result = "Option<(Arc<EndpointRecord>, Addr<EndpointActor>)>")]
pub struct GetEndpoint(pub String);
