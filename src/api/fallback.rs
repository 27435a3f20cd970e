//! Answers for requests no handler takes: `405` with `Allow` when the path
//! exists under another method, a problem+json `404` otherwise.
//!
//! The table comes from the OpenAPI document, which is generated from the
//! handlers' own annotations, so the `Allow` header cannot drift from the routes.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;

use super::ApiError;
use super::openapi::ApiDoc;

/// Every documented path (actix syntax, `{id}` segments) with its methods.
pub fn routes() -> Vec<(String, Vec<&'static str>)> {
    ApiDoc::openapi()
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let mut methods = Vec::new();
            for (name, present) in [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ] {
                if present {
                    methods.push(name);
                }
            }
            (path.clone(), methods)
        })
        .collect()
}

/// Register, after the real handlers, a catch-all resource per documented
/// path under `prefix` ("/v1" or "") that `mounted` accepts, answering 405 + `Allow`.
pub fn register(cfg: &mut web::ServiceConfig, prefix: &str, mounted: &dyn Fn(&str) -> bool) {
    for (path, methods) in routes() {
        if !mounted(&path) {
            continue;
        }
        let Some(rest) = path.strip_prefix(prefix) else {
            continue;
        };
        // Root routes are registered with prefix "" but must not take /v1 ones.
        if prefix.is_empty() && path.starts_with("/v1/") {
            continue;
        }
        let allow = methods.join(", ");
        cfg.service(web::resource(rest.to_string()).to(move || {
            let allow = allow.clone();
            async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed { allow }) }
        }));
    }
}

/// The `/v1` scope's default: no such route.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route {} {}",
        req.method(),
        req.path()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_knows_each_paths_methods() {
        let routes = routes();
        let find = |p: &str| {
            routes
                .iter()
                .find(|(path, _)| path == p)
                .map(|(_, m)| m.clone())
        };
        assert_eq!(find("/v1/events"), Some(vec!["POST"]));
        assert_eq!(
            find("/v1/endpoints/{id}"),
            Some(vec!["GET", "PATCH", "DELETE"])
        );
        assert_eq!(find("/healthz"), Some(vec!["GET"]));
    }
}
