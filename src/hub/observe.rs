//! Watching an engine: its outcome stream and the Prometheus text `/metrics` serves.

use metrics_exporter_prometheus::PrometheusHandle;

use crate::telemetry::board::EndpointRow;

use super::Hookbus;

impl Hookbus {
    /// Hear every delivery's outcome in-process: delivered, retry scheduled,
    /// dead-lettered or filtered, with endpoint, delivery, event, attempt,
    /// status or error and latency. A subscriber that stops reading never
    /// slows delivery: past [`crate::outcomes::CAPACITY`] outcomes behind, its
    /// next `recv` answers `Err(RecvError::Lagged(n))` with how many it
    /// missed, then continues with the newest.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn demo(hub: hookbus::Hookbus) {
    /// use hookbus::outcomes::OutcomeKind;
    /// use tokio::sync::broadcast::error::RecvError;
    /// let mut outcomes = hub.outcomes();
    /// loop {
    ///     match outcomes.recv().await {
    ///         Ok(o) if o.kind == OutcomeKind::DeadLettered => {
    ///             eprintln!("{} to {} is dead: {:?}", o.delivery_id, o.endpoint, o.error)
    ///         }
    ///         Ok(_) => {}
    ///         Err(RecvError::Lagged(missed)) => eprintln!("missed {missed} outcomes"),
    ///         Err(RecvError::Closed) => break,
    ///     }
    /// }
    /// # }
    /// ```
    pub fn outcomes(&self) -> tokio::sync::broadcast::Receiver<crate::outcomes::Outcome> {
        self.inner.outcomes.subscribe()
    }

    /// The Prometheus text `/metrics` serves: the attached recorder's series
    /// for endpoints that exist, plus the per-endpoint gauges, lag, build info
    /// and process metrics rendered from the engine itself. `None` without an
    /// attached handle. A host that renders its own handle can append
    /// [`Hookbus::render_engine_metrics`] instead.
    pub fn render_metrics(&self) -> Option<String> {
        let handle = self.inner.metrics.get()?;
        // Endpoints first, then the recorder (see `Scrape::rows`).
        let rows = self.inner.board.rows();
        Some(self.render_with(&handle.render(), rows))
    }

    /// Only the families hookbus renders from its own state (gauges per
    /// endpoint, `hookbus_oldest_pending_seconds`, build info, process).
    pub fn render_engine_metrics(&self) -> String {
        self.render_with("", self.inner.board.rows())
    }

    fn render_with(&self, recorded: &str, rows: Vec<(String, EndpointRow)>) -> String {
        let store = &self.inner.store;
        let now = crate::ids::now_ms();
        let oldest = |id: &str| -> f64 {
            // Queue rows sort by ticket, a ULID: the first one is the oldest.
            match store.queue_page(id, None, 1) {
                Ok(rows) => rows.first().map_or(0.0, |(ticket, _)| {
                    let ms = (*ticket >> 80) as u64;
                    now.saturating_sub(ms) as f64 / 1000.0
                }),
                Err(_) => 0.0,
            }
        };
        crate::telemetry::render::render(&crate::telemetry::render::Scrape {
            recorded,
            rows,
            oldest_pending: &oldest,
            store_writable: store.writable(),
            cluster: store
                .cluster_state()
                .map(|c| crate::telemetry::render::ClusterGauges {
                    nats_connected: c.connected,
                    partitions: c.owned.partitions,
                    partitions_owned: c.owned.mine.len(),
                    live_nodes: c.owned.live_nodes,
                    applied_sequence: c.applied_seq,
                }),
        })
    }

    /// Use `handle` to serve `GET /metrics` (the host or [`run`](crate::run) installs the recorder).
    pub fn attach_metrics(&self, handle: PrometheusHandle) {
        // A recorder installed after start missed the zero-valued series: make them now.
        crate::telemetry::EngineStarted.emit();
        for (_, row) in self.inner.board.rows() {
            crate::telemetry::EndpointSeries {
                endpoint: &row.name,
            }
            .emit();
        }
        let _ = self.inner.metrics.set(handle);
    }

    /// The attached Prometheus handle, if any.
    pub fn metrics(&self) -> Option<&PrometheusHandle> {
        self.inner.metrics.get()
    }
}
