//! Human-readable durations (`"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"5d"`) for config and API.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as a string such as `"30s"`; serialises back the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// From whole seconds.
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }

    /// From milliseconds.
    pub const fn millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }

    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl std::str::FromStr for Dur {
    type Err = String;

    /// Exactly `<number><unit>` with unit `ms`, `s`, `m`, `h` or `d` — the
    /// documented form, which the OpenAPI document can state as a pattern
    /// (a looser parser would accept strings the schema calls invalid).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!("invalid duration `{s}`; use e.g. \"500ms\", \"30s\", \"5m\", \"2h\", \"5d\"")
        };
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = t.split_at(split);
        if num.is_empty() || num.len() > 10 || (num.len() > 1 && num.starts_with('0')) {
            return Err(bad());
        }
        let n: u64 = num.parse().map_err(|_| bad())?;
        let ms_per = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        Ok(Dur(Duration::from_millis(n.saturating_mul(ms_per))))
    }
}

impl fmt::Display for Dur {
    /// The largest unit that divides it exactly: `90m`, `3d`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        for (unit, per) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
        ] {
            if ms >= per && ms % per == 0 {
                return write!(f, "{}{unit}", ms / per);
            }
        }
        if ms == 0 {
            write!(f, "0s")
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Dur {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A duration such as \"500ms\", \"30s\", \"5m\", \"2h\" or \"5d\".",
            ))
            .examples(["30s"])
            .into()
    }
}

impl utoipa::ToSchema for Dur {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms_and_round_trips() {
        for (s, d) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
            ("5d", Duration::from_secs(5 * 86400)),
        ] {
            let parsed: Dur = s.parse().unwrap();
            assert_eq!(parsed.0, d);
            assert_eq!(parsed.to_string().parse::<Dur>().unwrap(), parsed);
        }
        assert!("soon".parse::<Dur>().is_err());
        for bad in [
            "1h 30m",
            "3days",
            "05s",
            "1.5s",
            "-1s",
            "s",
            "10",
            "99999999999s",
        ] {
            assert!(bad.parse::<Dur>().is_err(), "{bad}");
        }
        assert_eq!(Dur::secs(3 * 86400).to_string(), "3d");
        assert_eq!(Dur::millis(1500).to_string(), "1500ms");
        assert_eq!(Dur::secs(5400).to_string(), "90m");
        assert_eq!(Dur::secs(0).to_string(), "0s");
    }
}
