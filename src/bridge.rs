//! Bridges: publish a host's own in-process events (from a tokio `broadcast`
//! or `mpsc` channel) to hookbus, like the NTM package's BusBridge.
//!
//! Each bridge is a task on the current actix/tokio runtime that maps every
//! message to an optional [`PublishRequest`] and publishes it durably, one at
//! a time, in channel order. It ends when the channel closes.

use tokio::sync::{broadcast, mpsc};

use crate::{Hookbus, PublishRequest};

/// Forward a broadcast channel. Messages the host's `map` turns into `None`
/// are skipped; if the bridge falls behind, the missed count is logged.
///
/// # Examples
/// ```no_run
/// # async fn demo(hub: hookbus::Hookbus) {
/// #[derive(Clone)]
/// enum ShopEvent { OrderPlaced { id: u64 }, CartViewed }
///
/// let (tx, rx) = tokio::sync::broadcast::channel(1024);
/// hookbus::bridge::from_broadcast(hub, rx, |e: ShopEvent| match e {
///     ShopEvent::OrderPlaced { id } => Some(hookbus::PublishRequest::new("order.created", serde_json::json!({"id": id}))),
///     ShopEvent::CartViewed => None,
/// });
/// let _ = tx.send(ShopEvent::OrderPlaced { id: 7 });
/// # }
/// ```
pub fn from_broadcast<T, F>(
    hub: Hookbus,
    mut rx: broadcast::Receiver<T>,
    map: F,
) -> actix_rt::task::JoinHandle<()>
where
    T: Clone + 'static,
    F: Fn(T) -> Option<PublishRequest> + 'static,
{
    actix_rt::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(msg) => forward(&hub, map(msg)).await,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "Bridge fell behind its broadcast channel; events were not published."
                    )
                }
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

/// Forward an mpsc channel (no message is lost while the bridge runs: the
/// sender waits when the channel is full).
///
/// # Examples
/// ```no_run
/// # async fn demo(hub: hookbus::Hookbus) {
/// let (tx, rx) = tokio::sync::mpsc::channel::<u64>(1024);
/// let bridge = hookbus::bridge::from_mpsc(hub, rx, |order_id| {
///     Some(hookbus::PublishRequest::new("order.shipped", serde_json::json!({"id": order_id})))
/// });
/// tx.send(42).await.unwrap();
/// drop(tx); // the bridge ends when the channel closes
/// bridge.await.unwrap();
/// # }
/// ```
pub fn from_mpsc<T, F>(
    hub: Hookbus,
    mut rx: mpsc::Receiver<T>,
    map: F,
) -> actix_rt::task::JoinHandle<()>
where
    T: 'static,
    F: Fn(T) -> Option<PublishRequest> + 'static,
{
    actix_rt::spawn(async move {
        while let Some(msg) = rx.recv().await {
            forward(&hub, map(msg)).await;
        }
    })
}

async fn forward(hub: &Hookbus, req: Option<PublishRequest>) {
    let Some(req) = req else { return };
    let event_type = req.event_type.clone();
    if let Err(e) = hub.publish(req).await {
        tracing::error!(event_type, error = %e, "Bridge could not publish an event.");
    }
}
