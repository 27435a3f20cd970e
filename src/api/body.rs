//! JSON request bodies that must be objects. serde's derive also reads a
//! struct from an array of its fields in order (`["acme"]` is an
//! application whose `uid` is `acme`; `[]` a token body with every field
//! defaulted), which no caller means: every struct body goes through here
//! and an array is a 422, as a body of any other wrong type is.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::error::ApiError;

/// Parse a JSON object body, telling syntax errors (400) from shape errors (422).
pub(super) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::invalid(vec![(
            "body".into(),
            "must be a JSON object".into(),
        )]));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_data() {
            ApiError::invalid(vec![("body".into(), e.to_string())])
        } else {
            ApiError::Malformed(format!("malformed JSON: {e}"))
        }
    })
}

/// `web::Json<T>` for a struct body: the same limit, content type and
/// errors (the scope's `JsonConfig`), and the body must be an object.
pub(super) struct Object<T>(T);

impl<T> Object<T> {
    /// The parsed body.
    pub(super) fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Object<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Read (and syntax-checked) by actix's extractor, kept as text.
        let json = web::Json::<Box<RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let raw = json.await?.into_inner();
            Ok(Object(parse(raw.get().as_bytes())?))
        })
    }
}
