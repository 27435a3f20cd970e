//! What a publish answers: the event id and one delivery per matched endpoint.

use serde::{Deserialize, Serialize};

/// One delivery created by a publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceiptDelivery {
    /// `dlv_<ULID>`.
    pub id: String,
    /// Its endpoint.
    pub endpoint_id: String,
}

/// The answer to one published event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublishReceipt {
    /// The event id.
    pub id: String,
    /// One per matched endpoint.
    pub deliveries: Vec<ReceiptDelivery>,
}
