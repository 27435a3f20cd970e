//! `/v1/apps`: applications (tenants) and their scoped API tokens. Admin
//! only, but an application's own token may read its application.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiError;
use super::endpoints::{Page, page_limit, rfc3339};
use super::scope::require_admin;
use crate::Hookbus;
use crate::model::app::AppSpec;
use crate::store::records::{AppRecord, TokenRecord};

/// An application as the API shows it: its spec's fields, id and times
/// (spelled out, not flattened: the spec refuses unknown fields, a view
/// must not).
#[derive(Serialize, utoipa::ToSchema)]
pub struct AppView {
    /// `app_…` (`app_default` for the default application).
    pub id: String,
    /// The host's own key.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// Free-form labels.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// Publishes per second, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<crate::model::policy::RateLimit>,
    /// Default retry policy of its endpoints, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry: Option<crate::model::policy::RetryPolicy>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&AppRecord> for AppView {
    fn from(a: &AppRecord) -> Self {
        let s = a.spec.clone();
        Self {
            id: a.id.clone(),
            uid: s.uid,
            name: s.name,
            metadata: s.metadata,
            rate_limit: s.rate_limit,
            retry: s.retry,
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

#[derive(Deserialize)]
struct AppPath {
    app: String,
}

#[derive(Deserialize)]
struct TokenPath {
    app: String,
    token: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /v1/apps`: every application, the default one first, then by id.
#[utoipa::path(get, path = "/v1/apps", tag = "apps", summary = "List applications",
    params(("limit" = Option<usize>, Query, description = "1..=1000, default 100"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses(
        (status = 200, description = "A page", body = Page<AppView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[get("/apps")]
pub(super) async fn list(
    req: HttpRequest,
    q: web::Query<ListQuery>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let limit = page_limit(q.limit)?;
    let apps = hub.directory().apps();
    let start = match &q.cursor {
        None => 0,
        Some(c) => apps
            .iter()
            .position(|a| &a.id == c)
            .map_or(apps.len(), |i| i + 1),
    };
    let page: Vec<_> = apps.into_iter().skip(start).take(limit + 1).collect();
    Ok(HttpResponse::Ok().json(Page::from_overfetch(
        page,
        limit,
        |a| a.id.clone(),
        |a| AppView::from(a.as_ref()),
    )))
}

/// `POST /v1/apps` → 201; 409 on a taken uid.
#[utoipa::path(post, path = "/v1/apps", tag = "apps", summary = "Create an application",
    request_body = AppSpec,
    responses(
        (status = 201, description = "Created", body = AppView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Conflict", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[post("/apps")]
pub(super) async fn create(
    req: HttpRequest,
    body: super::body::Object<AppSpec>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let app = hub.create_app(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(AppView::from(app.as_ref())))
}

/// `GET /v1/apps/{app}` (id or uid).
#[utoipa::path(get, path = "/v1/apps/{app}", tag = "apps", summary = "One application",
    params(("app" = String, Path, description = "Application id or uid")),
    responses(
        (status = 200, description = "The application", body = AppView),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[get("/apps/{app}")]
pub(super) async fn get_one(
    path: web::Path<AppPath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    // An application token got here only for its own application (auth.rs).
    let app = hub.app(&path.app)?;
    Ok(HttpResponse::Ok().json(AppView::from(app.record().as_ref())))
}

/// `PATCH /v1/apps/{app}` with a JSON merge patch (the uid cannot change).
#[utoipa::path(patch, path = "/v1/apps/{app}", tag = "apps", summary = "Update an application with a JSON merge patch",
    request_body = serde_json::Value,
    params(("app" = String, Path, description = "Application id or uid")),
    responses(
        (status = 200, description = "Updated", body = AppView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[patch("/apps/{app}")]
pub(super) async fn update(
    req: HttpRequest,
    path: web::Path<AppPath>,
    body: web::Json<Value>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let old = hub.app(&path.app)?;
    let spec: AppSpec = super::endpoints::merge_patch(&old.record().spec, body.into_inner())?;
    let app = hub.update_app(old.id(), spec).await?;
    Ok(HttpResponse::Ok().json(AppView::from(app.as_ref())))
}

/// `DELETE /v1/apps/{app}` → 204: its endpoints go (their pending
/// deliveries end as dead), its dead letters are purged, its tokens revoked.
#[utoipa::path(delete, path = "/v1/apps/{app}", tag = "apps", summary = "Delete an application and its endpoints",
    params(("app" = String, Path, description = "Application id or uid")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The default application cannot be deleted", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[delete("/apps/{app}")]
pub(super) async fn remove(
    req: HttpRequest,
    path: web::Path<AppPath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    hub.delete_app(&path.app).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A token as listed (never its secret).
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenView {
    /// `tok_…`.
    pub id: String,
    /// The application it acts on.
    pub app_id: String,
    /// Its label.
    pub name: String,
    /// Its first characters.
    pub prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// The bearer token: in the answer to its creation only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<&TokenRecord> for TokenView {
    fn from(t: &TokenRecord) -> Self {
        Self {
            id: t.id.clone(),
            app_id: t.app.clone(),
            name: t.name.clone(),
            prefix: t.prefix.clone(),
            created_at: rfc3339(t.created_at),
            token: None,
        }
    }
}

/// `POST /v1/apps/{app}/tokens` body.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
struct NewTokenBody {
    /// A label ("customer portal").
    name: String,
}

/// `POST /v1/apps/{app}/tokens` → 201 with the token, shown this once.
#[utoipa::path(post, path = "/v1/apps/{app}/tokens", tag = "apps", summary = "Create an application-scoped API token (shown once)",
    request_body = NewTokenBody,
    params(("app" = String, Path, description = "Application id or uid")),
    responses(
        (status = 201, description = "Created; `token` shown this once", body = TokenView),
        (status = 400, description = "Malformed JSON", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many tokens", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (every problem under errors[])", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[post("/apps/{app}/tokens")]
pub(super) async fn create_token(
    req: HttpRequest,
    path: web::Path<AppPath>,
    body: web::Bytes,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let app = hub.app(&path.app)?;
    let body: NewTokenBody = if body.iter().all(u8::is_ascii_whitespace) {
        NewTokenBody::default()
    } else {
        super::body::parse(&body)?
    };
    let made = hub
        .directory()
        .create_token(app.id(), body.name)
        .await
        .map_err(crate::BusError::from)?;
    let mut view = TokenView::from(made.record.as_ref());
    view.token = Some(made.token);
    Ok(HttpResponse::Created().json(view))
}

/// `GET /v1/apps/{app}/tokens`: ids, labels and prefixes, never the tokens.
#[utoipa::path(get, path = "/v1/apps/{app}/tokens", tag = "apps", summary = "List an application's tokens",
    params(("app" = String, Path, description = "Application id or uid")),
    responses(
        (status = 200, description = "The tokens", body = Page<TokenView>),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[get("/apps/{app}/tokens")]
pub(super) async fn list_tokens(
    req: HttpRequest,
    path: web::Path<AppPath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let app = hub.app(&path.app)?;
    let data: Vec<TokenView> = hub
        .directory()
        .tokens_of(app.id())
        .iter()
        .map(|t| TokenView::from(t.as_ref()))
        .collect();
    Ok(HttpResponse::Ok().json(Page {
        data,
        next_cursor: None,
    }))
}

/// `DELETE /v1/apps/{app}/tokens/{token}` → 204; the token stops working at once.
#[utoipa::path(delete, path = "/v1/apps/{app}/tokens/{token}", tag = "apps", summary = "Revoke an application token",
    params(("app" = String, Path, description = "Application id or uid"), ("token" = String, Path, description = "Token id (tok_…)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or wrong bearer token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not the admin token", body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not found", body = crate::api::error::Problem, content_type = "application/problem+json")
    ),
    security(("bearer" = [])))]
#[delete("/apps/{app}/tokens/{token}")]
pub(super) async fn revoke_token(
    req: HttpRequest,
    path: web::Path<TokenPath>,
    hub: web::Data<Hookbus>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req)?;
    let app = hub.app(&path.app)?;
    hub.directory()
        .revoke_token(app.id(), &path.token)
        .await
        .map_err(crate::BusError::from)?;
    Ok(HttpResponse::NoContent().finish())
}
