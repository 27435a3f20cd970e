//! A small management-API client for tests.

/// A JSON client for the management API (no token, or one bearer token).
pub struct Api {
    base: String,
    client: awc::Client,
    token: Option<String>,
}

impl Api {
    pub fn new(base: String) -> Self {
        Self {
            base,
            client: awc::Client::new(),
            token: None,
        }
    }

    /// The same server, calling with `Authorization: Bearer <token>`.
    pub fn with_token(&self, token: &str) -> Self {
        Self {
            base: self.base.clone(),
            client: awc::Client::new(),
            token: Some(token.to_string()),
        }
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `method path [body]` → (status, JSON body or null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = format!("{}{path}", self.base);
        let req = match method {
            "GET" => self.client.get(url),
            "POST" => self.client.post(url),
            "PATCH" => self.client.patch(url),
            "DELETE" => self.client.delete(url),
            _ => unreachable!(),
        };
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let mut resp = match body {
            Some(b) => req.send_json(&b).await.unwrap(),
            None => req.send().await.unwrap(),
        };
        let bytes = resp.body().limit(1 << 20).await.unwrap();
        (
            resp.status().as_u16(),
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// `POST /v1/endpoints` that must answer 201; the created endpoint.
    pub async fn create_endpoint(&self, body: serde_json::Value) -> serde_json::Value {
        let (status, created) = self.call("POST", "/v1/endpoints", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        created
    }
}
