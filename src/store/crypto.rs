//! Secrets at rest: signing secrets and auth credentials are sealed with
//! XChaCha20-Poly1305 under the master key, bound to their endpoint id (AAD),
//! before an endpoint record is written; opened again when it is read.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use super::records::EndpointRecord;
use crate::model::spec::Auth;

/// Prefix of a sealed value.
const SEALED: &str = "enc:v1:";

/// The master key: seals secrets, and keys the fingerprints of declared
/// endpoint fields (so a fingerprint of a weak password cannot be guessed offline).
#[derive(Clone)]
pub struct MasterKey(XChaCha20Poly1305, [u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// From base64 of 32 bytes (`storage.master_key` / `HOOKBUS_MASTER_KEY`).
    pub fn from_base64(b64: &str) -> Result<Self, String> {
        let bytes = B64
            .decode(b64.trim())
            .map_err(|_| "master key must be base64".to_string())?;
        if bytes.len() != 32 {
            return Err("master key must be 32 bytes (base64 of 32 random bytes)".into());
        }
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&bytes)
            .map_err(|_| "bad master key".to_string())?;
        mac.update(b"hookbus fingerprint key v1");
        let fp_key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(Self(
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| "bad master key".to_string())?,
            fp_key,
        ))
    }

    /// A keyed fingerprint (HMAC-SHA256, hex) of `data`.
    pub fn fingerprint(&self, data: &[u8]) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&self.1)
            .expect("HMAC takes any key length");
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// `configured`, or the key kept in `<dir>/master.key` (created, mode 0600, when missing).
    pub fn load_or_create(configured: Option<&str>, dir: &Path) -> Result<Self, String> {
        if let Some(k) = configured {
            return Self::from_base64(k);
        }
        let path = dir.join("master.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Self::from_base64(&text);
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        let text = B64.encode(key);
        write_private(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        tracing::warn!(path = %path.display(), "No master key configured; generated one next to the data. Set storage.master_key or HOOKBUS_MASTER_KEY to keep it elsewhere.");
        Self::from_base64(&text)
    }

    fn seal(&self, endpoint_id: &str, plain: &str) -> String {
        if plain.starts_with(SEALED) {
            return plain.to_string();
        }
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ct = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: endpoint_id.as_bytes(),
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend(ct);
        format!("{SEALED}{}", B64.encode(out))
    }

    fn open(&self, endpoint_id: &str, value: &str) -> Result<String, String> {
        let Some(b64) = value.strip_prefix(SEALED) else {
            return Ok(value.to_string()); // written before encryption existed
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| "sealed secret is not base64".to_string())?;
        if raw.len() < 24 {
            return Err("sealed secret is truncated".into());
        }
        let (nonce, ct) = raw.split_at(24);
        let plain = self
            .0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: endpoint_id.as_bytes(),
                },
            )
            .map_err(|_| {
                format!("cannot decrypt a secret of endpoint {endpoint_id}: wrong master key?")
            })?;
        String::from_utf8(plain).map_err(|_| "sealed secret is not UTF-8".to_string())
    }

    fn map(
        &self,
        rec: &EndpointRecord,
        f: impl Fn(&str, &str) -> Result<String, String>,
    ) -> Result<EndpointRecord, String> {
        let id = rec.id.as_str();
        let mut r = rec.clone();
        for s in &mut r.spec.signing.secrets {
            *s = f(id, s)?;
        }
        for s in &mut r.retiring_secrets {
            s.secret = f(id, &s.secret)?;
        }
        match &mut r.spec.auth {
            Auth::None => {}
            Auth::Basic { password, .. } => *password = f(id, password)?,
            Auth::Bearer { token } => *token = f(id, token)?,
            Auth::ApiKey { key, .. } => *key = f(id, key)?,
        }
        Ok(r)
    }

    /// The record as stored: every secret sealed.
    pub fn seal_record(&self, rec: &EndpointRecord) -> EndpointRecord {
        self.map(rec, |id, s| Ok(self.seal(id, s)))
            .unwrap_or_else(|_| rec.clone())
    }

    /// The record as used: every secret opened.
    pub fn open_record(&self, rec: &EndpointRecord) -> Result<EndpointRecord, String> {
        self.map(rec, |id, s| self.open(id, s))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec::EndpointSpec;

    fn record(id: &str) -> EndpointRecord {
        let mut spec = EndpointSpec::new("a", "http://h/", &[]);
        spec.signing.secrets = vec!["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()];
        spec.auth = Auth::Bearer {
            token: "tok".into(),
        };
        EndpointRecord {
            id: id.into(),
            app: crate::model::app::default_id(),
            app_uid: String::new(),
            spec,
            created_at: 0,
            updated_at: 0,
            version: 1,
            retiring_secrets: vec![],
            applied: None,
        }
    }

    fn key() -> MasterKey {
        MasterKey::from_base64(&B64.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn seals_every_secret_and_opens_them_again() {
        let k = key();
        let sealed = k.seal_record(&record("ep_1"));
        let json = serde_json::to_string(&sealed).unwrap();
        assert!(
            !json.contains("whsec_MfKQ") && !json.contains("\"tok\""),
            "{json}"
        );
        assert_eq!(k.open_record(&sealed).unwrap(), record("ep_1"));
        assert_eq!(k.seal_record(&sealed), sealed, "sealing is idempotent");
    }

    #[test]
    fn a_secret_is_bound_to_its_endpoint_and_key() {
        let k = key();
        let mut moved = k.seal_record(&record("ep_1"));
        moved.id = "ep_2".into();
        assert!(
            k.open_record(&moved).is_err(),
            "copying a sealed secret to another endpoint fails"
        );
        let other = MasterKey::from_base64(&B64.encode([8u8; 32])).unwrap();
        assert!(other.open_record(&k.seal_record(&record("ep_1"))).is_err());
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
    }
}
