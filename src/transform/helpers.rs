//! The helper library registered in the script engine: what a JavaScript
//! author reaches for in the first ten minutes and Rhai lacks (`join`, the
//! current time, RFC 3339, hashes, HMAC, base64, hex). Documented in
//! docs/transforms.md ("Helpers").

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rhai::{Array, Blob, Engine, EvalAltResult, INT};
use sha2::{Digest, Sha256};

type Fallible<T> = Result<T, Box<EvalAltResult>>;

/// Register every helper.
pub fn register(engine: &mut Engine) {
    engine
        .register_fn("join", join)
        .register_fn("now", now)
        .register_fn("parse_time", parse_time)
        .register_fn("format_time", format_time)
        .register_fn("format_time", format_time_with)
        .register_fn("sha256", |s: &str| {
            hex::encode(Sha256::digest(s.as_bytes()))
        })
        .register_fn("sha256", |b: Blob| hex::encode(Sha256::digest(&b)))
        .register_fn("hmac_sha256", |key: &str, msg: &str| {
            hex::encode(hmac(key.as_bytes(), msg.as_bytes()))
        })
        .register_fn("hmac_sha256_bytes", |key: &str, msg: &str| -> Blob {
            hmac(key.as_bytes(), msg.as_bytes())
        })
        .register_fn("base64_encode", |s: &str| b64().encode(s))
        .register_fn("base64_encode", |b: Blob| b64().encode(b))
        .register_fn("base64_decode", base64_decode)
        .register_fn("hex_encode", |s: &str| hex::encode(s))
        .register_fn("hex_encode", |b: Blob| hex::encode(b))
        .register_fn("hex_decode", hex_decode);
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn err<T>(msg: String) -> Fallible<T> {
    Err(msg.into())
}

/// `join(array, sep)` / `array.join(sep)`: strings as they are, other values as `to_string` shows them.
fn join(items: Array, sep: &str) -> String {
    items
        .into_iter()
        .map(|d| {
            if d.is_string() {
                d.into_string().unwrap_or_default()
            } else {
                d.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// `now()`: Unix time in milliseconds (like JavaScript's `Date.now()`).
fn now() -> INT {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as INT)
        .unwrap_or(0)
}

/// `parse_time("2026-12-02T10:00:00+01:00")`: RFC 3339 to Unix milliseconds.
fn parse_time(s: &str) -> Fallible<INT> {
    match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        Ok(t) => Ok((t.unix_timestamp_nanos() / 1_000_000) as INT),
        Err(e) => err(format!("parse_time: `{s}` is not an RFC 3339 time ({e})")),
    }
}

fn from_ms(ms: INT) -> Fallible<time::OffsetDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .or_else(|e| err(format!("format_time: {ms} ms is out of range ({e})")))
}

/// `format_time(ms)`: RFC 3339 in UTC with milliseconds, e.g. `2026-12-02T09:00:00.123Z`.
fn format_time(ms: INT) -> Fallible<String> {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    from_ms(ms)?
        .format(&fmt)
        .or_else(|e| err(format!("format_time: {e}")))
}

/// `format_time(ms, "[year]-[month]-[day]")`: UTC, in the `time` crate's format syntax.
fn format_time_with(ms: INT, format: &str) -> Fallible<String> {
    let fmt = match time::format_description::parse_borrowed::<1>(format) {
        Ok(f) => f,
        Err(e) => return err(format!("format_time: bad format `{format}` ({e})")),
    };
    from_ms(ms)?
        .format(&fmt)
        .or_else(|e| err(format!("format_time: {e}")))
}

fn base64_decode(s: &str) -> Fallible<String> {
    let bytes = b64()
        .decode(s.trim())
        .or_else(|e| err(format!("base64_decode: {e}")))?;
    String::from_utf8(bytes).or_else(|_| err("base64_decode: the bytes are not UTF-8 text".into()))
}

fn hex_decode(s: &str) -> Fallible<String> {
    let bytes = hex::decode(s.trim()).or_else(|e| err(format!("hex_decode: {e}")))?;
    String::from_utf8(bytes).or_else(|_| err("hex_decode: the bytes are not UTF-8 text".into()))
}

#[cfg(test)]
mod tests {
    use crate::transform::{ScriptLimits, engine};

    fn eval(expr: &str) -> String {
        let e = engine::build(&ScriptLimits::default());
        e.eval::<rhai::Dynamic>(expr)
            .map(|d| d.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn join_joins_strings_and_other_values() {
        assert_eq!(eval(r#"["a", "b", "c"].join(", ")"#), "a, b, c");
        assert_eq!(eval(r#"join([1, "x", true], "-")"#), "1-x-true");
        assert_eq!(eval(r#"[].join(",")"#), "");
    }

    #[test]
    fn times_parse_and_format_as_rfc_3339() {
        assert_eq!(
            eval(r#"parse_time("2026-12-02T10:00:00.5+01:00")"#),
            "1796202000500"
        );
        assert_eq!(
            eval("format_time(1796202000500)"),
            "2026-12-02T09:00:00.500Z"
        );
        assert_eq!(
            eval(r#"format_time(1796202000500, "[year]/[month]/[day]")"#),
            "2026/12/02"
        );
        assert!(eval(r#"parse_time("yesterday")"#).contains("not an RFC 3339 time"));
        let now: i64 = eval("now()").parse().unwrap();
        assert!(now > 1_700_000_000_000, "{now}");
        assert_eq!(eval("type_of(now())"), "i64");
    }

    #[test]
    fn hashes_and_macs_match_known_vectors() {
        assert_eq!(
            eval(r#"sha256("abc")"#),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231 test case 2.
        assert_eq!(
            eval(r#"hmac_sha256("Jefe", "what do ya want for nothing?")"#),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            eval(r#"base64_encode(hmac_sha256_bytes("Jefe", "what do ya want for nothing?"))"#),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }

    #[test]
    fn base64_and_hex_round_trip_and_refuse_garbage() {
        assert_eq!(eval(r#"base64_encode("héllo")"#), "aMOpbGxv");
        assert_eq!(eval(r#"base64_decode("aMOpbGxv")"#), "héllo");
        assert_eq!(eval(r#"hex_encode("hi")"#), "6869");
        assert_eq!(eval(r#"hex_decode("6869")"#), "hi");
        assert!(eval(r#"base64_decode("%%%")"#).starts_with("error"));
        assert!(eval(r#"hex_decode("zz")"#).starts_with("error"));
        assert!(eval(r#"hex_decode("ff")"#).contains("not UTF-8"));
    }
}
