//! The `/metrics` text: the recorder's series for endpoints that exist, the
//! per-endpoint gauges from the [`Board`](super::board::Board), lag from the store, build info and
//! process metrics — each family with HELP and TYPE.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::board::EndpointRow;
use super::names;

/// Inputs gathered at scrape time.
pub struct Scrape<'a> {
    /// The recorder's own rendering (counters, histograms).
    pub recorded: &'a str,
    /// The engine's endpoints, read from the [`Board`](super::board::Board) *before* `recorded`
    /// was rendered: an endpoint's series are registered before its row is
    /// on the board, so every endpoint listed here has all its series in
    /// `recorded` (read the other way round, a scrape racing an endpoint's
    /// creation could list it with only some of its series).
    pub rows: Vec<(String, EndpointRow)>,
    /// Age in seconds of each endpoint's oldest undelivered delivery, by id (0 when none).
    pub oldest_pending: &'a dyn Fn(&str) -> f64,
    /// Whether the store's latest write succeeded.
    pub store_writable: bool,
    /// Cluster mode only: this node's view of the cluster.
    pub cluster: Option<ClusterGauges>,
}

/// A cluster node's state at scrape time (from the store's replica).
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterGauges {
    /// Connected to a NATS server now.
    pub nats_connected: bool,
    /// Partitions in the cluster.
    pub partitions: u32,
    /// Partitions this node drives.
    pub partitions_owned: usize,
    /// Nodes heartbeating.
    pub live_nodes: usize,
    /// Rows stream sequence applied to this node's cache.
    pub applied_sequence: u64,
}

impl ClusterGauges {
    fn render(&self, out: &mut String) {
        for (name, help, value) in [
            (
                names::CLUSTER_NATS_CONNECTED,
                "1 while this node is connected to a NATS server (0: publishes answer 503).",
                u8::from(self.nats_connected) as f64,
            ),
            (
                names::CLUSTER_PARTITIONS,
                "Partitions the cluster's endpoints are spread over.",
                f64::from(self.partitions),
            ),
            (
                names::CLUSTER_PARTITIONS_OWNED,
                "Partitions this node holds a fresh lease on (it drives their endpoints).",
                self.partitions_owned as f64,
            ),
            (
                names::CLUSTER_LIVE_NODES,
                "Nodes heartbeating at this node's last look.",
                self.live_nodes as f64,
            ),
            (
                names::CLUSTER_APPLIED_SEQUENCE,
                "Rows stream sequence applied to this node's cache.",
                self.applied_sequence as f64,
            ),
        ] {
            family(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}

/// Escape a label value (`\\`, `"`, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The value of `endpoint="…"` in a series line, if it has one.
fn endpoint_label(line: &str) -> Option<String> {
    let start = line.find("endpoint=\"")? + "endpoint=\"".len();
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => break,
            },
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// Keep only series of endpoints that exist (a deleted or renamed endpoint's
/// counters stay in the recorder's memory but are no longer exported).
pub fn only_live(recorded: &str, live: &HashSet<String>) -> String {
    recorded
        .lines()
        .filter(|l| l.starts_with('#') || endpoint_label(l).is_none_or(|e| live.contains(&e)))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn gauge_family(
    out: &mut String,
    name: &str,
    help: &str,
    rows: &[(String, EndpointRow)],
    value: impl Fn(&str, &EndpointRow) -> f64,
) {
    family(out, name, "gauge", help);
    for (id, r) in rows {
        let _ = writeln!(
            out,
            "{name}{{endpoint=\"{}\"}} {}",
            esc(&r.name),
            value(id, r)
        );
    }
}

/// The whole exposition.
pub fn render(s: &Scrape<'_>) -> String {
    let rows = &s.rows;
    let live: HashSet<String> = rows.iter().map(|(_, r)| r.name.clone()).collect();
    let mut out = only_live(s.recorded, &live);
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    gauge_family(
        &mut out,
        names::QUEUE_DEPTH,
        "Deliveries waiting (memory and store).",
        rows,
        |_, r| r.queue_depth as f64,
    );
    gauge_family(
        &mut out,
        names::IN_FLIGHT,
        "Attempts in flight now.",
        rows,
        |_, r| r.in_flight as f64,
    );
    gauge_family(
        &mut out,
        names::DEAD_LETTERS,
        "Dead letters in the store.",
        rows,
        |_, r| r.dead_letters as f64,
    );
    gauge_family(
        &mut out,
        names::CIRCUIT_STATE,
        "Circuit breaker: 0 closed, 1 half-open, 2 open.",
        rows,
        |_, r| r.circuit,
    );
    gauge_family(
        &mut out,
        names::ENDPOINT_STATUS,
        "Endpoint status: 0 active, 1 paused, 2 disabled.",
        rows,
        |_, r| f64::from(r.status),
    );
    gauge_family(
        &mut out,
        names::OLDEST_PENDING,
        "Age of the oldest undelivered delivery, seconds (0 when none waits).",
        rows,
        |id, _| (s.oldest_pending)(id),
    );
    family(
        &mut out,
        names::STORE_WRITABLE,
        "gauge",
        "1 while the store's latest write succeeded; 0 after a failure (disk full, I/O error).",
    );
    let _ = writeln!(
        out,
        "{} {}",
        names::STORE_WRITABLE,
        u8::from(s.store_writable)
    );
    family(
        &mut out,
        names::BUILD_INFO,
        "gauge",
        "Always 1; the version label says which hookbus runs.",
    );
    let _ = writeln!(
        out,
        "{}{{version=\"{}\"}} 1",
        names::BUILD_INFO,
        env!("CARGO_PKG_VERSION")
    );
    if let Some(c) = &s.cluster {
        c.render(&mut out);
    }
    super::process::render(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::board::Board;
    use super::*;

    #[test]
    fn series_of_endpoints_that_no_longer_exist_are_dropped() {
        let text = "# HELP x x\n# TYPE x counter\nx{endpoint=\"a\",outcome=\"success\"} 1\n\
                    x{endpoint=\"gone\",outcome=\"success\"} 2\ny 3\n";
        let live = HashSet::from(["a".to_string()]);
        let kept = only_live(text, &live);
        assert!(kept.contains("endpoint=\"a\"") && kept.contains("y 3"));
        assert!(!kept.contains("gone"));
        assert_eq!(
            endpoint_label("z{endpoint=\"q\\\"x\"} 1").as_deref(),
            Some("q\"x")
        );
    }

    #[test]
    fn gauges_are_rendered_from_the_board_with_help_and_type() {
        let board = Board::default();
        board.set(
            "ep_1",
            EndpointRow {
                name: "shop".into(),
                queue_depth: 3,
                in_flight: 1,
                dead_letters: 2,
                circuit: 2.0,
                status: 1,
            },
        );
        let text = render(&Scrape {
            recorded: "",
            rows: board.rows(),
            oldest_pending: &|_| 12.5,
            store_writable: true,
            cluster: None,
        });
        for line in [
            "hookbus_queue_depth{endpoint=\"shop\"} 3",
            "hookbus_in_flight{endpoint=\"shop\"} 1",
            "hookbus_circuit_state{endpoint=\"shop\"} 2",
            "hookbus_endpoint_status{endpoint=\"shop\"} 1",
            "hookbus_oldest_pending_seconds{endpoint=\"shop\"} 12.5",
            "# TYPE hookbus_queue_depth gauge",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        board.remove("ep_1");
        let text = render(&Scrape {
            recorded: "",
            rows: board.rows(),
            oldest_pending: &|_| 0.0,
            store_writable: true,
            cluster: None,
        });
        assert!(!text.contains("shop"));
    }

    #[test]
    fn cluster_gauges_appear_only_in_cluster_mode() {
        let board = Board::default();
        let scrape = |cluster| {
            render(&Scrape {
                recorded: "",
                rows: board.rows(),
                oldest_pending: &|_| 0.0,
                store_writable: true,
                cluster,
            })
        };
        assert!(!scrape(None).contains("hookbus_cluster_"));
        let text = scrape(Some(ClusterGauges {
            nats_connected: true,
            partitions: 64,
            partitions_owned: 32,
            live_nodes: 2,
            applied_sequence: 1234,
        }));
        for line in [
            "# TYPE hookbus_cluster_partitions_owned gauge",
            "hookbus_cluster_nats_connected 1",
            "hookbus_cluster_partitions 64",
            "hookbus_cluster_partitions_owned 32",
            "hookbus_cluster_live_nodes 2",
            "hookbus_cluster_applied_sequence 1234",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
    }
}
