//! Publish push-back: when healthy endpoints' backlog grows past a bound,
//! publishing is refused (`503` + `Retry-After`) instead of acknowledging
//! events the engine cannot deliver for minutes. Pure: the bus feeds it the
//! endpoints' current gauges on a short tick and asks it before a publish.
//!
//! Only a *healthy* endpoint's backlog counts — active, circuit closed —
//! because a down receiver's backlog is expected (its breaker is open, its
//! deliveries wait in the store) and must not stop publishing for the others.
//! Hysteresis: once over a bound, publishing resumes when the backlog is back
//! under 90 % of it, so the answer does not flap on every delivery.

use std::collections::HashSet;

use crate::telemetry::board::EndpointRow;

/// The bounds (`delivery.max_backlog`, `delivery.max_backlog_per_endpoint`); 0 is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Queued deliveries across every healthy endpoint.
    pub global: usize,
    /// Queued deliveries of one healthy endpoint.
    pub per_endpoint: usize,
}

/// What the last assessment found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pressure {
    /// Healthy endpoints' queued deliveries, in total.
    pub healthy_backlog: usize,
    /// Over the global bound: every publish is refused.
    pub global: bool,
    /// Endpoints over their own bound: publishes that would reach them are refused.
    pub endpoints: HashSet<String>,
    /// The endpoints the last assessment found healthy.
    healthy: HashSet<String>,
}

/// Back under a bound once the backlog is below this share of it.
const RESUME_AT: f64 = 0.9;

fn healthy(row: &EndpointRow) -> bool {
    row.status == 0 && row.circuit == 0.0
}

/// Is `depth` over `bound`, given whether it was over before (hysteresis)?
fn over(depth: usize, bound: usize, was_over: bool) -> bool {
    if bound == 0 {
        return false;
    }
    if was_over {
        depth as f64 >= bound as f64 * RESUME_AT
    } else {
        depth > bound
    }
}

/// The pressure now, from every endpoint's `(id, row)` and the previous assessment.
pub fn assess(rows: &[(String, EndpointRow)], bounds: Bounds, before: &Pressure) -> Pressure {
    let mut p = Pressure::default();
    for (id, row) in rows.iter().filter(|(_, r)| healthy(r)) {
        p.healthy_backlog += row.queue_depth;
        p.healthy.insert(id.clone());
        if over(
            row.queue_depth,
            bounds.per_endpoint,
            before.endpoints.contains(id),
        ) {
            p.endpoints.insert(id.clone());
        }
    }
    p.global = over(p.healthy_backlog, bounds.global, before.global);
    p
}

impl Pressure {
    /// `n` deliveries were just enqueued for `endpoint`, whose gauges are
    /// `live` right now: counted in the healthy backlog at once, so a burst
    /// between two assessments cannot run far past the global bound (the
    /// next assessment recounts).
    pub fn enqueued(
        &mut self,
        endpoint: &str,
        n: usize,
        bounds: Bounds,
        live: Option<&EndpointRow>,
    ) {
        // Not healthy (or too new to be assessed), or no longer healthy: a
        // breaker that opened since the last assessment must not let its
        // backlog push publishing back until the next one.
        if !self.healthy.contains(endpoint) || !live.is_some_and(healthy) {
            return;
        }
        self.healthy_backlog += n;
        if bounds.global > 0 && self.healthy_backlog > bounds.global {
            self.global = true;
        }
    }

    /// Is `endpoint`, whose gauges are `row` right now, over its own bound?
    /// Checked at publish time from the endpoint's live queue depth, so the
    /// bound holds within the deliveries still on their way to its actor.
    pub fn endpoint_over(
        &mut self,
        endpoint: &str,
        row: Option<&EndpointRow>,
        bounds: Bounds,
    ) -> bool {
        let was = self.endpoints.contains(endpoint);
        let now = row.is_some_and(|r| healthy(r) && over(r.queue_depth, bounds.per_endpoint, was));
        if now && !was {
            self.endpoints.insert(endpoint.to_string());
        } else if !now && was {
            self.endpoints.remove(endpoint);
        }
        now
    }

    /// Why a publish reaching `targets` must wait, if it must.
    pub fn refuses<'a>(
        &self,
        bounds: Bounds,
        mut targets: impl Iterator<Item = &'a str>,
    ) -> Option<String> {
        if self.global {
            return Some(format!(
                "{} deliveries are queued for healthy endpoints (delivery.max_backlog = {}); retry shortly",
                self.healthy_backlog, bounds.global
            ));
        }
        targets.find(|t| self.endpoints.contains(*t)).map(|t| {
            format!(
                "endpoint `{t}` has more than delivery.max_backlog_per_endpoint = {} deliveries queued; retry shortly",
                bounds.per_endpoint
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(depth: usize, circuit: f64, status: u8) -> EndpointRow {
        EndpointRow {
            name: "x".into(),
            queue_depth: depth,
            in_flight: 0,
            dead_letters: 0,
            circuit,
            status,
        }
    }

    const BOUNDS: Bounds = Bounds {
        global: 100,
        per_endpoint: 60,
    };

    #[test]
    fn only_healthy_endpoints_backlog_counts() {
        let rows = vec![
            ("a".to_string(), row(50, 0.0, 0)),
            ("down".to_string(), row(10_000, 2.0, 0)),
            ("probing".to_string(), row(10_000, 1.0, 0)),
            ("paused".to_string(), row(10_000, 0.0, 1)),
        ];
        let p = assess(&rows, BOUNDS, &Pressure::default());
        assert_eq!(p.healthy_backlog, 50);
        assert!(!p.global && p.endpoints.is_empty());
        assert_eq!(p.refuses(BOUNDS, ["a", "down"].into_iter()), None);
    }

    #[test]
    fn over_a_bound_refuses_until_back_under_ninety_percent() {
        let at = |depth: usize, before: &Pressure| {
            assess(&[("a".to_string(), row(depth, 0.0, 0))], BOUNDS, before)
        };
        let p = at(61, &Pressure::default());
        assert!(p.endpoints.contains("a") && !p.global);
        assert!(
            p.refuses(BOUNDS, ["b", "a"].into_iter())
                .unwrap()
                .contains("`a`")
        );
        assert_eq!(
            p.refuses(BOUNDS, ["b"].into_iter()),
            None,
            "others still publish"
        );
        let p = at(55, &p);
        assert!(p.endpoints.contains("a"), "55 is still above 90 % of 60");
        let p = at(53, &p);
        assert!(p.endpoints.is_empty());
        let p = at(101, &p);
        assert!(p.global);
        assert!(p.refuses(BOUNDS, std::iter::empty()).is_some());
        let p = at(91, &p);
        assert!(p.global, "91 is not below 90");
        assert!(!at(89, &p).global);
    }

    #[test]
    fn what_is_enqueued_between_assessments_counts_at_once() {
        let mut p = assess(
            &[("a".to_string(), row(10, 0.0, 0))],
            BOUNDS,
            &Pressure::default(),
        );
        let live = row(10, 0.0, 0);
        p.enqueued("a", 90, BOUNDS, Some(&live));
        assert!(!p.global, "100 is not over 100");
        p.enqueued("down", 1000, BOUNDS, Some(&live));
        assert!(!p.global, "an endpoint not assessed healthy is not counted");
        p.enqueued("a", 1, BOUNDS, Some(&live));
        assert!(p.global);
    }

    #[test]
    fn an_endpoint_whose_breaker_opened_since_the_assessment_is_not_counted() {
        let mut p = assess(
            &[("a".to_string(), row(10, 0.0, 0))],
            BOUNDS,
            &Pressure::default(),
        );
        p.enqueued("a", 1000, BOUNDS, Some(&row(10, 2.0, 0)));
        assert!(!p.global, "open now: a down receiver's backlog");
        p.enqueued("a", 1000, BOUNDS, Some(&row(10, 0.0, 1)));
        assert!(!p.global, "paused now");
        p.enqueued("a", 1000, BOUNDS, None);
        assert!(!p.global, "deleted now");
    }

    #[test]
    fn one_endpoint_is_judged_by_its_live_depth_with_hysteresis() {
        let mut p = Pressure::default();
        assert!(!p.endpoint_over("a", Some(&row(60, 0.0, 0)), BOUNDS));
        assert!(p.endpoint_over("a", Some(&row(61, 0.0, 0)), BOUNDS));
        assert!(
            p.endpoint_over("a", Some(&row(55, 0.0, 0)), BOUNDS),
            "not yet under 54"
        );
        assert!(!p.endpoint_over("a", Some(&row(53, 0.0, 0)), BOUNDS));
        assert!(
            !p.endpoint_over("a", Some(&row(1000, 2.0, 0)), BOUNDS),
            "its breaker is open"
        );
        assert!(!p.endpoint_over("a", None, BOUNDS), "not on the board yet");
    }

    #[test]
    fn zero_bounds_are_off() {
        let p = assess(
            &[("a".to_string(), row(1 << 30, 0.0, 0))],
            Bounds::default(),
            &Pressure::default(),
        );
        assert!(!p.global && p.endpoints.is_empty());
    }
}
