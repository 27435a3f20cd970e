//! The served OpenAPI document's parts for applications, tokens and the
//! event-type catalogue: the bounds their fields carry, every
//! per-application route's `/v1/apps/{app}` twin, and the catalogue as
//! OpenAPI 3.1 `webhooks`.

use serde_json::{Map, Value, json};

use super::openapi_edit::{TYPE_PATTERN, problem, set};
use crate::event::MAX_TYPE_LEN;
use crate::model::event_type::MAX_DESCRIPTION;

/// Bounds of the applications' and the catalogue's fields, as enforced.
pub(super) fn bounds(doc: &mut Value) {
    let s = "/components/schemas";
    set(
        doc,
        &format!("{s}/AppSpec/properties/uid"),
        json!({"minLength": 1, "maxLength": 64, "pattern": "^(?!app_)[A-Za-z0-9_.:-]+$"}),
    );
    set(
        doc,
        &format!("{s}/AppSpec/properties/name"),
        json!({"maxLength": 256}),
    );
    set(
        doc,
        &format!("{s}/AppSpec/properties/metadata"),
        json!({"maxProperties": 64, "propertyNames": {"type": "string", "minLength": 1, "maxLength": 64},
               "additionalProperties": {"type": "string", "maxLength": 1024}}),
    );
    let t = format!("{s}/EventTypeSpec/properties");
    set(
        doc,
        &format!("{t}/name"),
        json!({"minLength": 1, "maxLength": MAX_TYPE_LEN, "pattern": TYPE_PATTERN}),
    );
    set(
        doc,
        &format!("{t}/description"),
        json!({"maxLength": MAX_DESCRIPTION}),
    );
    set(
        doc,
        &format!("{t}/schema"),
        json!({"type": ["object", "boolean", "null"]}),
    );
    set(
        doc,
        &format!("{s}/NewTokenBody/properties/name"),
        json!({"maxLength": 256}),
    );
    // Token bodies are optional (an empty body: no label), like rotate-secret's.
    if let Some(rb) = doc.pointer_mut("/paths/~1v1~1apps~1{app}~1tokens/post/requestBody") {
        rb["required"] = json!(false);
    }
    // Merge patches: objects of (some of) the fields, `null` removing one;
    // read-only fields echoed back from a GET are ignored.
    let nullable = |v: Value| json!({"anyOf": [v, {"type": "null"}]});
    let app_spec = doc.pointer(&format!("{s}/AppSpec/properties")).cloned();
    let type_spec = doc
        .pointer(&format!("{s}/EventTypeSpec/properties"))
        .cloned();
    for (path, props, read_only) in [
        (
            "/paths/~1v1~1apps~1{app}/patch",
            app_spec,
            &["id", "created_at", "updated_at"][..],
        ),
        (
            "/paths/~1v1~1event-types~1{name}/patch",
            type_spec,
            &["created_at", "updated_at"][..],
        ),
    ] {
        let mut fields = Map::new();
        for (k, v) in props
            .and_then(|p| p.as_object().cloned())
            .unwrap_or_default()
        {
            fields.insert(k, nullable(v));
        }
        for k in read_only {
            fields.insert(
                k.to_string(),
                json!({"description": "Read-only; ignored when echoed back."}),
            );
        }
        if let Some(schema) = doc.pointer_mut(&format!(
            "{path}/requestBody/content/application~1json/schema"
        )) {
            *schema = json!({
                "type": "object",
                "description": "JSON merge patch (RFC 7396) of the fields; `null` removes one.",
                "properties": Value::Object(fields),
                "additionalProperties": false,
            });
        }
    }
}

/// Every per-application route again under `/v1/apps/{app}`: the same
/// operation with the `app` path parameter, its own operation id, and a 404
/// for an unknown application (or another application's record).
pub(super) fn app_twins(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.pointer_mut("/paths") else {
        return;
    };
    let param = json!({"name": "app", "in": "path", "required": true,
        "description": "Application id (app_…) or uid", "schema": {"type": "string"}});
    let twins: Vec<(String, Value)> = paths
        .iter()
        .filter(|(p, _)| super::scope::is_scoped(p))
        .map(|(p, item)| {
            let mut item = item.clone();
            for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
                let Some(op) = op.as_object_mut() else { continue };
                if let Some(Value::String(id)) = op.get_mut("operationId") {
                    *id = format!("app_{id}");
                }
                let params = op.entry("parameters").or_insert_with(|| json!([]));
                if let Value::Array(ps) = params {
                    ps.insert(0, param.clone());
                }
                if let Some(Value::Object(r)) = op.get_mut("responses") {
                    r.entry("404").or_insert_with(|| {
                        json!({"description": "Not found (an unknown application, or a record of another)", "content": problem()})
                    });
                }
            }
            (p.replacen("/v1/", "/v1/apps/{app}/", 1), item)
        })
        .collect();
    paths.extend(twins);
}

/// The catalogue as OpenAPI 3.1 `webhooks`: one entry per event type, the
/// delivered envelope with `data` as the type's schema, so a receiver's
/// developers can generate types from the same document.
pub fn webhooks(doc: &mut Value, catalogue: &[std::sync::Arc<crate::directory::CatalogueEntry>]) {
    let mut hooks = Map::new();
    for e in catalogue {
        let spec = &e.record.spec;
        let data = spec.schema.clone().unwrap_or_else(|| json!({}));
        let mut body = json!({
            "type": "object",
            "required": ["id", "type", "timestamp", "data"],
            "properties": {
                "id": {"type": "string"},
                "type": {"const": spec.name},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": data,
                "metadata": {"type": "object"}
            }
        });
        if let Some(ex) = &spec.example {
            body["example"] = json!({"id": "evt_…", "type": spec.name, "timestamp": "2026-01-01T00:00:00.000Z", "data": ex, "metadata": {}});
        }
        hooks.insert(
            spec.name.clone(),
            json!({"post": {
                "summary": spec.name,
                "description": spec.description,
                "deprecated": spec.deprecated,
                "operationId": format!("webhook_{}", spec.name.replace(['.', '-'], "_")),
                "tags": ["event-types"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": body}}},
                "responses": {"200": {"description": "Any 2xx acknowledges the delivery"}}
            }}),
        );
    }
    if !hooks.is_empty() {
        doc["webhooks"] = Value::Object(hooks);
    }
}
