//! Signing: Standard Webhooks v1 (`webhook-signature`) and the seed-style
//! `x-webhook-signature: sha256=<hex>` scheme. Pure functions over bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of Standard Webhooks secrets.
pub const SECRET_PREFIX: &str = "whsec_";

/// Which signature an endpoint's requests carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Standard Webhooks v1: `webhook-signature: v1,<base64>`.
    #[default]
    Standard,
    /// Seed style: `x-webhook-signature: sha256=<hex>` over `"{timestamp}.{body}"`.
    Sha256,
    /// Unsigned.
    None,
}

/// Errors turning a configured secret into an HMAC key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignError {
    /// A `standard` secret must be `whsec_` followed by base64.
    #[error("standard-scheme secrets must be `whsec_` followed by base64 (at least 16 bytes)")]
    BadStandardSecret,
    /// Secrets may not be empty.
    #[error("secret must not be empty")]
    Empty,
}

/// A fresh random secret, `whsec_<base64 of 24 bytes>` (the Svix/Standard Webhooks shape).
pub fn generate_secret() -> String {
    let mut key = [0u8; 24];
    rand::rng().fill_bytes(&mut key);
    format!("{SECRET_PREFIX}{}", B64.encode(key))
}

/// The HMAC key bytes a secret stands for under `scheme`.
///
/// `standard`: the base64-decoded part after `whsec_`. `sha256`: the secret's
/// UTF-8 bytes as written (seed style), so a receiver can use the same string.
pub fn key_bytes(scheme: Scheme, secret: &str) -> Result<Vec<u8>, SignError> {
    if secret.is_empty() {
        return Err(SignError::Empty);
    }
    match scheme {
        Scheme::Standard => {
            let b64 = secret
                .strip_prefix(SECRET_PREFIX)
                .ok_or(SignError::BadStandardSecret)?;
            let key = B64.decode(b64).map_err(|_| SignError::BadStandardSecret)?;
            if key.len() < 16 {
                return Err(SignError::BadStandardSecret);
            }
            Ok(key)
        }
        Scheme::Sha256 | Scheme::None => Ok(secret.as_bytes().to_vec()),
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `webhook-signature` value: `v1,<sig>` per key, space-separated.
///
/// # Examples
/// ```
/// let key = hookbus::sign::key_bytes(hookbus::sign::Scheme::Standard,
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
/// let sig = hookbus::sign::standard_signature(&[key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b"{\"test\": 2432232314}");
/// assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// ```
pub fn standard_signature(keys: &[Vec<u8>], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    keys.iter()
        .map(|k| {
            let mac = hmac(k, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            format!("v1,{}", B64.encode(mac))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `x-webhook-signature` value: `sha256=<hex>` per key, space-separated.
pub fn sha256_signature(keys: &[Vec<u8>], timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    keys.iter()
        .map(|k| {
            format!(
                "sha256={}",
                hex::encode(hmac(k, &[ts.as_bytes(), b".", body]))
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Constant-time check that one of the space-separated `signatures` matches
/// what `secret` produces; used by `hookbus verify` and receivers.
pub fn verify(
    scheme: Scheme,
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
    signatures: &str,
) -> Result<bool, SignError> {
    let key = key_bytes(scheme, secret)?;
    let expected = match scheme {
        Scheme::Standard => standard_signature(&[key], msg_id, timestamp, body),
        Scheme::Sha256 => sha256_signature(&[key], timestamp, body),
        Scheme::None => return Ok(true),
    };
    Ok(signatures
        .split_whitespace()
        .any(|s| constant_time_eq(s.as_bytes(), expected.as_bytes())))
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vector from the Standard Webhooks specification / svix libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1614265330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;

    #[test]
    fn standard_matches_the_published_test_vector() {
        let key = key_bytes(Scheme::Standard, SECRET).unwrap();
        assert_eq!(
            standard_signature(&[key], MSG_ID, TS, BODY),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn rotation_signs_with_every_secret() {
        let a = key_bytes(Scheme::Standard, SECRET).unwrap();
        let other = generate_secret();
        let b = key_bytes(Scheme::Standard, &other).unwrap();
        let sig = standard_signature(&[a, b], MSG_ID, TS, BODY);
        assert_eq!(sig.split(' ').count(), 2);
        assert!(verify(Scheme::Standard, SECRET, MSG_ID, TS, BODY, &sig).unwrap());
        assert!(verify(Scheme::Standard, &other, MSG_ID, TS, BODY, &sig).unwrap());
    }

    #[test]
    fn sha256_scheme_signs_timestamp_and_body_in_hex() {
        let key = key_bytes(Scheme::Sha256, "topsecret").unwrap();
        let sig = sha256_signature(&[key], TS, BODY);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify(Scheme::Sha256, "topsecret", "", TS, BODY, &sig).unwrap());
        assert!(!verify(Scheme::Sha256, "wrong", "", TS, BODY, &sig).unwrap());
    }

    #[test]
    fn rejects_malformed_standard_secrets() {
        assert_eq!(
            key_bytes(Scheme::Standard, "nope"),
            Err(SignError::BadStandardSecret)
        );
        assert_eq!(
            key_bytes(Scheme::Standard, "whsec_!!"),
            Err(SignError::BadStandardSecret)
        );
        assert_eq!(
            key_bytes(Scheme::Standard, "whsec_c2hvcnQ="),
            Err(SignError::BadStandardSecret)
        );
        assert!(generate_secret().starts_with(SECRET_PREFIX));
    }
}
