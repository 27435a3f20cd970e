//! `--since` / `--until` values: a duration back from now (`1h`, `30m`,
//! `2d`) or a timestamp (RFC 3339, or a date), sent to the server as RFC 3339.

use std::time::SystemTime;

/// Turn `value` into an RFC 3339 time, reading durations as "that long ago" from `now`.
pub fn parse_when(value: &str, now: SystemTime) -> Result<String, String> {
    let v = value.trim();
    if let Ok(d) = humantime::parse_duration(v) {
        let t = now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH);
        return Ok(humantime::format_rfc3339_millis(t).to_string());
    }
    // A bare date means its midnight, UTC.
    let candidate = if v.len() == 10 && v.as_bytes().get(4) == Some(&b'-') {
        format!("{v}T00:00:00Z")
    } else {
        v.to_string()
    };
    humantime::parse_rfc3339_weak(&candidate)
        .map(|t| humantime::format_rfc3339_millis(t).to_string())
        .map_err(|_| {
            format!(
                "`{value}` is neither a duration (30m, 1h, 7d) nor a time \
                 (2026-12-01, 2026-12-01T10:00:00Z)"
            )
        })
}

/// Parse an optional flag value, naming the flag in the error.
pub fn flag(name: &str, value: Option<&str>) -> Result<Option<String>, String> {
    value
        .map(|v| parse_when(v, SystemTime::now()).map_err(|e| format!("--{name}: {e}")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn durations_count_back_from_now() {
        let now = at("2026-12-01T12:00:00Z");
        assert_eq!(parse_when("1h", now).unwrap(), "2026-12-01T11:00:00.000Z");
        assert_eq!(parse_when("2d", now).unwrap(), "2026-11-29T12:00:00.000Z");
        assert_eq!(parse_when("30m", now).unwrap(), "2026-12-01T11:30:00.000Z");
    }

    #[test]
    fn timestamps_and_dates_pass_through_as_rfc3339() {
        let now = at("2026-12-01T12:00:00Z");
        assert_eq!(
            parse_when("2026-11-30T08:15:00Z", now).unwrap(),
            "2026-11-30T08:15:00.000Z"
        );
        assert_eq!(
            parse_when("2026-11-30", now).unwrap(),
            "2026-11-30T00:00:00.000Z"
        );
    }

    #[test]
    fn nonsense_is_refused_with_both_forms_named() {
        let e = parse_when("yesterday-ish", SystemTime::now()).unwrap_err();
        assert!(e.contains("duration") && e.contains("time"), "{e}");
        assert!(flag("since", Some("x")).unwrap_err().starts_with("--since"));
    }
}
