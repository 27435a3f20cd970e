//! `GET /`: a self-contained health dashboard (no external assets).

use actix_web::{HttpResponse, get};

/// The page; it polls `/v1/endpoints` and each endpoint's stats.
const PAGE: &str = include_str!("dashboard.html");

/// Serve the dashboard.
#[utoipa::path(
    get,
    path = "/",
    tag = "health",
    summary = "The health dashboard",
    responses(
        (status = 200, description = "HTML page", body = String, content_type = "text/html")
    )
)]
#[get("/")]
pub(super) async fn dashboard() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header(("cache-control", "no-store"))
        .insert_header(("content-security-policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'"))
        .body(PAGE)
}

/// `GET <scope>` without the trailing slash: redirect to `<scope>/`, where the
/// page's relative API calls resolve under the scope.
pub(super) async fn to_slash(req: actix_web::HttpRequest) -> HttpResponse {
    let mut to = format!("{}/", req.path().trim_end_matches('/'));
    if !req.query_string().is_empty() {
        to = format!("{to}?{}", req.query_string());
    }
    HttpResponse::PermanentRedirect()
        .insert_header(("location", to))
        .finish()
}
