//! An endpoint's attempt and delivery series, resolved once instead of on
//! every attempt.
#![allow(clippy::disallowed_macros)] // resolving the handles is what this file is for

use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};

use super::names;

/// The series an endpoint's attempts and deliveries record into, resolved
/// once. The `counter!` and `histogram!` macros build a key (an owned label,
/// a hash) and look it up in the recorder on every call, four times per
/// delivery. They are resolved again when the endpoint is renamed or
/// another recorder is in place: a host may install its own after the
/// engine started.
pub struct EndpointHandles {
    name: String,
    /// Which recorder the handles came from (its address).
    recorder: usize,
    /// By [`names::RESULTS`] index.
    attempts: Vec<Counter>,
    /// By [`names::OUTCOMES`] index.
    deliveries: Vec<Counter>,
    duration: Histogram,
    end_to_end: Histogram,
}

/// The address of the recorder the macros would use now.
fn recorder_id() -> usize {
    metrics::with_recorder(|r| std::ptr::from_ref(r).cast::<()>() as usize)
}

impl EndpointHandles {
    /// The handles of endpoint `name` in the current recorder.
    pub fn new(name: &str) -> Self {
        let ep = name.to_string();
        Self {
            attempts: names::RESULTS
                .iter()
                .map(|r| counter!(names::DELIVERY_ATTEMPTS, "endpoint" => ep.clone(), "result" => *r))
                .collect(),
            deliveries: names::OUTCOMES
                .iter()
                .map(|o| counter!(names::DELIVERIES, "endpoint" => ep.clone(), "outcome" => *o))
                .collect(),
            duration: histogram!(names::DELIVERY_DURATION, "endpoint" => ep.clone()),
            end_to_end: histogram!(names::END_TO_END_LATENCY, "endpoint" => ep.clone()),
            recorder: recorder_id(),
            name: ep,
        }
    }

    /// These handles, resolved again first if the endpoint is now called
    /// something else or the recorder changed.
    pub fn current(&mut self, name: &str) -> &Self {
        if self.name != name || self.recorder != recorder_id() {
            *self = Self::new(name);
        }
        self
    }

    /// Make every series exist at 0 (histograms exist once resolved).
    pub(super) fn touch(&self) {
        for c in self.attempts.iter().chain(&self.deliveries) {
            c.increment(0);
        }
    }

    /// The endpoint's name (the `endpoint` label).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn attempt(&self, result: &'static str, elapsed: Duration) {
        match names::RESULTS.iter().position(|r| *r == result) {
            Some(i) => self.attempts[i].increment(1),
            // A label outside the fixed set: still counted, the slow way.
            None => counter!(names::DELIVERY_ATTEMPTS, "endpoint" => self.name.clone(), "result" => result)
                .increment(1),
        }
        self.duration.record(elapsed);
    }

    pub(super) fn delivery(&self, outcome: &'static str, end_to_end: Option<Duration>) {
        match names::OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => self.deliveries[i].increment(1),
            None => {
                counter!(names::DELIVERIES, "endpoint" => self.name.clone(), "outcome" => outcome)
                    .increment(1)
            }
        }
        if let Some(e2e) = end_to_end {
            self.end_to_end.record(e2e);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::EndpointHandles;
    use crate::telemetry::recorder;

    /// What an attempt and a successful delivery record (as
    /// `AttemptFinished` and `DeliveryFinished` do).
    fn delivered(h: &EndpointHandles) {
        h.attempt("2xx", Duration::from_millis(3));
        h.delivery("success", Some(Duration::from_millis(5)));
    }

    #[test]
    fn attempts_and_deliveries_are_counted_under_the_endpoints_current_name() {
        let r = recorder::build().unwrap();
        metrics::with_local_recorder(&r, || {
            let mut h = EndpointHandles::new("billing");
            delivered(h.current("billing"));
            delivered(h.current("billing"));
            // Renamed: from now on under the new name.
            delivered(h.current("invoices"));
        });
        let text = r.handle().render();
        for line in [
            r#"hookbus_delivery_attempts_total{endpoint="billing",result="2xx"} 2"#,
            r#"hookbus_deliveries_total{endpoint="billing",outcome="success"} 2"#,
            r#"hookbus_delivery_attempts_total{endpoint="invoices",result="2xx"} 1"#,
            r#"hookbus_deliveries_total{endpoint="invoices",outcome="success"} 1"#,
            r#"hookbus_delivery_duration_seconds_count{endpoint="billing"} 2"#,
            r#"hookbus_end_to_end_latency_seconds_count{endpoint="invoices"} 1"#,
        ] {
            assert!(text.contains(line), "missing `{line}` in:\n{text}");
        }
    }

    #[test]
    fn handles_resolved_before_a_recorder_was_installed_record_into_it() {
        let early = recorder::build().unwrap();
        let late = recorder::build().unwrap();
        let mut h = metrics::with_local_recorder(&early, || EndpointHandles::new("billing"));
        metrics::with_local_recorder(&late, || delivered(h.current("billing")));
        let text = late.handle().render();
        assert!(
            text.contains(r#"hookbus_delivery_attempts_total{endpoint="billing",result="2xx"} 1"#),
            "{text}"
        );
        assert!(!early.handle().render().contains(r#"result="2xx"} 1"#));
    }

    #[test]
    fn a_label_outside_the_fixed_set_is_still_counted() {
        let r = recorder::build().unwrap();
        metrics::with_local_recorder(&r, || {
            let h = EndpointHandles::new("billing");
            h.attempt("teapot", Duration::from_millis(1));
        });
        let text = r.handle().render();
        assert!(
            text.contains(
                r#"hookbus_delivery_attempts_total{endpoint="billing",result="teapot"} 1"#
            ),
            "{text}"
        );
    }
}
