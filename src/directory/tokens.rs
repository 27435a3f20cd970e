//! Application-scoped API tokens: made and revoked by the admin, stored as a
//! SHA-256 only, each letting its bearer see and change one application.

use std::sync::Arc;

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Directory, DirectoryError};
use crate::ids::{self, now_ms};
use crate::store::Changes;
use crate::store::records::TokenRecord;

/// Prefix of every application token (tells it apart from the admin token in logs and scanners).
pub const TOKEN_PREFIX: &str = "hbk_";
/// Tokens one application may hold.
pub const MAX_TOKENS_PER_APP: usize = 100;

/// Who a request speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The admin token (or no token configured): everything.
    Admin,
    /// An application token: only `/v1/apps/{that app}/…`.
    App {
        /// The application's id.
        app: String,
        /// The token's id (for logs).
        token: String,
    },
}

/// A token just created: the only time its secret is shown.
#[derive(Clone, Debug)]
pub struct NewToken {
    /// What is stored.
    pub record: Arc<TokenRecord>,
    /// The bearer token itself.
    pub token: String,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Directory {
    /// A new token for `app` (an id). Its secret is in the answer only.
    pub async fn create_token(&self, app: &str, name: String) -> Result<NewToken, DirectoryError> {
        if name.chars().count() > 256 {
            return Err(DirectoryError::Invalid(vec![(
                "name".into(),
                "must be at most 256 characters".into(),
            )]));
        }
        let _w = self.writes.lock().await;
        let app = self
            .resolve(app)
            .ok_or_else(|| DirectoryError::NotFound(format!("application `{app}`")))?;
        if self.tokens_of(&app.id).len() >= MAX_TOKENS_PER_APP {
            return Err(DirectoryError::Conflict(format!(
                "the application already has {MAX_TOKENS_PER_APP} tokens; revoke one first"
            )));
        }
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let token = format!(
            "{TOKEN_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let rec = TokenRecord {
            id: format!("tok_{}", ids::next_ulid()),
            app: app.id.clone(),
            name,
            sha256: digest(&token),
            prefix: token.chars().take(TOKEN_PREFIX.len() + 6).collect(),
            created_at: now_ms(),
        };
        let mut c = Changes::new();
        c.token(&rec);
        self.commit(c).await?;
        let rec = Arc::new(rec);
        self.write().tokens.insert(rec.sha256.clone(), rec.clone());
        Ok(NewToken { record: rec, token })
    }

    /// Revoke one of `app`'s tokens; it stops working at once.
    pub async fn revoke_token(&self, app: &str, token_id: &str) -> Result<(), DirectoryError> {
        let _w = self.writes.lock().await;
        let found = self
            .read()
            .tokens
            .values()
            .find(|t| t.id == token_id && t.app == app)
            .cloned()
            .ok_or_else(|| DirectoryError::NotFound(format!("token `{token_id}`")))?;
        let mut c = Changes::new();
        c.forget_token(&found.id);
        self.commit(c).await?;
        self.write().tokens.remove(&found.sha256);
        Ok(())
    }

    /// `app`'s tokens (hashes and prefixes only), oldest first.
    pub fn tokens_of(&self, app: &str) -> Vec<Arc<TokenRecord>> {
        let mut v: Vec<_> = self
            .read()
            .tokens
            .values()
            .filter(|t| t.app == app)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The application token `bearer` is, if it is one (of a live application).
    /// Looked up by its SHA-256: the comparison never touches the secret
    /// itself, so its timing says nothing about it.
    pub fn authenticate(&self, bearer: &str) -> Option<Principal> {
        if !bearer.starts_with(TOKEN_PREFIX) {
            return None;
        }
        let st = self.read();
        let t = st.tokens.get(&digest(bearer))?;
        (!st.deleting.contains(&t.app)).then(|| Principal::App {
            app: t.app.clone(),
            token: t.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::digest;

    #[test]
    fn tokens_are_stored_as_their_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
