//! The served OpenAPI document: the generated one (utoipa) made to say what
//! the server really does — every bound it enforces, every status a route
//! can answer, security as configured, response schemas real answers pass.
//!
//! Why a post-processing step: some facts are runtime configuration (is a
//! token set, how many events a batch may hold), and some shapes utoipa
//! cannot express from the types (a flattened, open response object).

use serde_json::{Map, Value, json};

use super::openapi_edit::{EVENT_TYPE_ANY_PATTERN, TYPE_PATTERN, problem, set};
use crate::config::Config;
use crate::endpoint::spec::{MAX_URL_LEN, URL_PATTERN};
use crate::event::{MAX_ID_LEN, MAX_TYPE_LEN};

/// A `Dur` string: a number and a unit (`500ms`, `30s`, `5m`, `2h`, `5d`).
pub const DURATION_PATTERN: &str = r"^(0|[1-9][0-9]{0,9})(ms|s|m|h|d)$";
/// A duration greater than zero.
pub const POSITIVE_DURATION_PATTERN: &str = r"^[1-9][0-9]{0,9}(ms|s|m|h|d)$";
/// An attempt timeout: 1 ms to 5 minutes.
pub const TIMEOUT_PATTERN: &str =
    r"^(([1-9][0-9]{0,4}|[12][0-9]{5}|300000)ms|([1-9][0-9]?|[12][0-9]{2}|300)s|[1-5]m)$";
/// The generated document (`ApiDoc`, as JSON) completed for a server running with `config`.
pub fn document(generated: Value, config: &Config) -> Value {
    let mut doc = generated;
    bounds(&mut doc, config);
    super::openapi_tenancy::bounds(&mut doc);
    endpoint_view(&mut doc);
    super::openapi_tenancy::app_twins(&mut doc);
    statuses(&mut doc, config.server.api_token.is_some());
    doc
}

/// Every bound the server enforces on a single field.
fn bounds(doc: &mut Value, config: &Config) {
    let s = "/components/schemas";
    let dur = json!({"type": "string", "pattern": DURATION_PATTERN});
    set(doc, &format!("{s}/Dur"), dur);
    set(
        doc,
        &format!("{s}/PublishRequest/properties/type"),
        json!({"minLength": 1, "maxLength": MAX_TYPE_LEN, "pattern": TYPE_PATTERN}),
    );
    let token = json!({"minLength": 1, "maxLength": MAX_ID_LEN, "pattern": "^[A-Za-z0-9_.:-]+$"});
    set(
        doc,
        &format!("{s}/PublishRequest/properties/id"),
        token.clone(),
    );
    set(
        doc,
        &format!("{s}/PublishRequest/properties/idempotency_key"),
        json!({"minLength": 1, "maxLength": MAX_ID_LEN}),
    );
    set(
        doc,
        &format!("{s}/PublishRequest/properties/metadata"),
        json!({"type": ["object", "null"]}),
    );
    set(
        doc,
        &format!("{s}/Batch/properties/events"),
        json!({"minItems": 1, "maxItems": config.delivery.max_batch_events}),
    );
    let ep = format!("{s}/EndpointSpec/properties");
    set(
        doc,
        &format!("{ep}/name"),
        json!({"minLength": 1, "maxLength": 64, "pattern": "^(?!ep_)[A-Za-z0-9_.-]+$"}),
    );
    set(
        doc,
        &format!("{ep}/url"),
        json!({"maxLength": MAX_URL_LEN, "pattern": URL_PATTERN}),
    );
    set(
        doc,
        &format!("{ep}/max_in_flight"),
        json!({"minimum": 1, "maximum": 1024}),
    );
    // Durations with bounds of their own (the rest take any `Dur`).
    set(
        doc,
        &format!("{ep}/timeout"),
        json!({"$ref": null, "type": "string", "pattern": TIMEOUT_PATTERN}),
    );
    set(
        doc,
        &format!("{ep}/expire_after"),
        json!({"$ref": null, "type": "string", "pattern": POSITIVE_DURATION_PATTERN}),
    );
    set(
        doc,
        &format!("{s}/BreakerConfig/properties/reset_timeout"),
        json!({"$ref": null, "type": "string", "pattern": POSITIVE_DURATION_PATTERN}),
    );
    set(
        doc,
        &format!("{s}/RotateBody/properties/grace"),
        json!({"type": ["string", "null"], "pattern": DURATION_PATTERN}),
    );
    for f in ["since", "until"] {
        let t = json!({"type": ["string", "null"], "format": "date-time"});
        set(doc, &format!("{s}/Filter/properties/{f}"), t.clone());
        set(doc, &format!("{s}/ReplayBody/properties/{f}"), t);
    }
    // A dry run's event: a publish body with any event type (the engine's own
    // included), or a delivered body with its `timestamp`.
    let te = format!("{s}/TestEvent/properties");
    set(
        doc,
        &format!("{te}/type"),
        json!({"minLength": 1, "maxLength": MAX_TYPE_LEN, "pattern": EVENT_TYPE_ANY_PATTERN}),
    );
    set(doc, &format!("{te}/id"), token);
    set(
        doc,
        &format!("{te}/idempotency_key"),
        json!({"minLength": 1, "maxLength": MAX_ID_LEN}),
    );
    set(
        doc,
        &format!("{te}/metadata"),
        json!({"type": ["object", "null"]}),
    );
    set(
        doc,
        &format!("{te}/timestamp"),
        json!({"type": ["string", "null"], "format": "date-time"}),
    );
    set(doc, &format!("{ep}/success_codes"), json!({"minItems": 1}));
    set(
        doc,
        &format!("{ep}/success_codes/items"),
        json!({"minimum": 100, "maximum": 599}),
    );
    set(
        doc,
        &format!("{ep}/redact/items"),
        json!({"minLength": 1, "maxLength": 256, "pattern": r"^[^.]+(\.[^.]+)*$"}),
    );
    // Credentials and headers as they will be sent (see `check_header`).
    let name = header_name_pattern();
    let value = json!({"type": "string", "pattern": HEADER_VALUE_PATTERN});
    set(
        doc,
        &format!("{ep}/headers"),
        json!({"propertyNames": {"pattern": name}, "additionalProperties": value}),
    );
    if let Some(Value::Array(variants)) = doc.pointer_mut(&format!("{s}/Auth/oneOf")) {
        for v in variants.iter_mut() {
            set_obj(v, json!({"additionalProperties": false}));
            let no_control = r"^[^\x00-\x1F\x7F-\x9F]*$";
            for (field, patch) in [
                ("username", json!({"pattern": r"^[^:\x00-\x1F\x7F-\x9F]*$"})),
                ("password", json!({"pattern": no_control})),
                (
                    "token",
                    json!({"minLength": 1, "pattern": r"^[^\x00-\x20\x7F]+$"}),
                ),
                ("header", json!({"pattern": name})),
                ("key", json!({"pattern": HEADER_VALUE_PATTERN})),
            ] {
                if let Some(p) = v.pointer_mut(&format!("/properties/{field}")) {
                    set_obj(p, patch);
                }
            }
        }
    }
    // A script inline, or (only with transforms.scripts_dir) a file in it.
    let t = format!("{s}/TransformSpec");
    if config.transforms.scripts_dir.is_none() {
        if let Some(Value::Object(props)) = doc.pointer_mut(&format!("{t}/properties")) {
            props.remove("path");
        }
        set(doc, &t, json!({"required": ["script"]}));
    } else {
        set(
            doc,
            &t,
            json!({"oneOf": [{"required": ["script"]}, {"required": ["path"]}]}),
        );
    }
    let r = format!("{s}/RetryPolicy/properties");
    set(
        doc,
        &format!("{r}/max_attempts"),
        json!({"minimum": 1, "maximum": 100}),
    );
    set(
        doc,
        &format!("{r}/multiplier"),
        json!({"minimum": 1.0, "maximum": 100.0}),
    );
    let b = format!("{s}/BreakerConfig/properties");
    set(
        doc,
        &format!("{b}/failure_threshold"),
        json!({"minimum": 1}),
    );
    set(
        doc,
        &format!("{b}/half_open_requests"),
        json!({"minimum": 1}),
    );
    let rl = format!("{s}/RateLimit/properties");
    set(
        doc,
        &format!("{rl}/per_second"),
        json!({"exclusiveMinimum": 0, "maximum": 100000}),
    );
    set(doc, &format!("{rl}/burst"), json!({"minimum": 1}));
    // Query parameters: an empty value is refused like any malformed one.
    if let Some(Value::Object(paths)) = doc.pointer_mut("/paths") {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let params = op.get_mut("parameters").and_then(Value::as_array_mut);
                for p in params.into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or("").to_string();
                    let Some(schema) = p.get_mut("schema") else {
                        continue;
                    };
                    match name.as_str() {
                        "limit" => set_obj(schema, json!({"minimum": 1, "maximum": 1000})),
                        "since" | "until" => set_obj(schema, json!({"format": "date-time"})),
                        "event" => set_obj(
                            schema,
                            json!({"maxLength": MAX_TYPE_LEN, "pattern": EVENT_TYPE_ANY_PATTERN}),
                        ),
                        "Idempotency-Key" => set_obj(
                            schema,
                            json!({"minLength": 1, "maxLength": MAX_ID_LEN, "pattern": "^[!-~]([ -~]*[!-~])?$"}),
                        ),
                        "endpoint" => set_obj(schema, json!({"minLength": 1})),
                        _ => {}
                    }
                }
            }
        }
    }
}

/// What `HeaderValue::from_str` takes: no control characters but tab, no DEL.
const HEADER_VALUE_PATTERN: &str = r"^[^\x00-\x08\x0A-\x1F\x7F]*$";

/// A header name an endpoint may set: an RFC 9110 token that is none of the
/// headers hookbus sets itself (case-insensitive, spelled out as classes
/// because JSON Schema patterns have no case-insensitive flag).
fn header_name_pattern() -> String {
    let ci = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                } else if c == '-' {
                    "-".to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let reserved: Vec<String> = crate::endpoint::spec::RESERVED_HEADERS
        .iter()
        .map(|h| ci(h))
        .collect();
    format!(
        r"^(?!({})$)(?!{})[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        reserved.join("|"),
        ci("webhook-")
    )
}

fn set_obj(target: &mut Value, patch: Value) {
    if let (Value::Object(t), Value::Object(p)) = (target, patch) {
        t.extend(p);
    }
}

/// `EndpointView` is the spec plus id and times, and open for additions: an
/// `allOf` with the closed `EndpointSpec` would reject every real answer.
fn endpoint_view(doc: &mut Value) {
    let Some(spec) = doc.pointer("/components/schemas/EndpointSpec").cloned() else {
        return;
    };
    let mut props = spec["properties"].as_object().cloned().unwrap_or_default();
    for (k, d) in [
        ("id", "`ep_<ULID>`."),
        ("created_at", "RFC 3339."),
        ("updated_at", "RFC 3339."),
    ] {
        props.insert(k.into(), json!({"type": "string", "description": d}));
    }
    let required = json!(["id", "name", "url", "status", "created_at", "updated_at"]);
    let view = json!({
        "type": "object",
        "description": "An endpoint as the API shows it: credentials and secrets redacted (`***`) except in the create answer.",
        "properties": Value::Object(props),
        "required": required,
    });
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        schemas.insert("EndpointView".into(), view);
    }
    // utoipa inlines generic pages: point their items at the view too.
    replace_view_copies(doc);
    let doc_components = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    // rotate-secret: no body, or a RotateBody object (not `null`).
    if let Some(rb) =
        doc.pointer_mut("/paths/~1v1~1endpoints~1{id}~1rotate-secret/post/requestBody")
    {
        *rb = json!({
            "required": false,
            "description": "Optional; an empty body means grace 24h",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RotateBody"}}}
        });
    }
    // A merge patch is an object of (some) endpoint fields.
    if let Some(body) = doc.pointer_mut(
        "/paths/~1v1~1endpoints~1{id}/patch/requestBody/content/application~1json/schema",
    ) {
        // Any subset of the fields; `null` (at any depth) resets a field to its default.
        let components = doc_components.clone();
        let mut props = Map::new();
        for (k, v) in spec["properties"].as_object().into_iter().flatten() {
            let p = patchable(v, &components);
            let required = spec["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|x| x == k));
            props.insert(
                k.clone(),
                if required {
                    p
                } else {
                    json!({"anyOf": [p, {"type": "null"}]})
                },
            );
        }
        for k in ["id", "created_at", "updated_at"] {
            props.insert(
                k.into(),
                json!({"description": "Read-only; ignored when echoed back."}),
            );
        }
        *body = json!({
            "type": "object",
            "description": "JSON merge patch (RFC 7396) of the endpoint fields.",
            "properties": Value::Object(props),
            "additionalProperties": false,
        });
    }
}

/// `schema` as a merge patch may write it: `$ref`s inlined, and every
/// optional property of an object may also be `null` (which removes it).
fn patchable(schema: &Value, components: &Map<String, Value>) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return match components.get(name) {
            Some(target) => {
                let mut t = patchable(target, components);
                if let (Some(d), Value::Object(o)) = (schema.get("description"), &mut t) {
                    o.insert("description".into(), d.clone());
                }
                t
            }
            None => schema.clone(),
        };
    }
    let Some(obj) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = obj.clone();
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(Value::Array(branches)) = obj.get(key) {
            out.insert(
                key.into(),
                Value::Array(branches.iter().map(|b| patchable(b, components)).collect()),
            );
        }
    }
    if let Some(Value::Object(props)) = obj.get("properties") {
        let required: Vec<&Value> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().collect())
            .unwrap_or_default();
        let mut new = Map::new();
        for (k, v) in props {
            let p = patchable(v, components);
            let is_required = required.iter().any(|r| *r == k);
            new.insert(
                k.clone(),
                if is_required {
                    p
                } else {
                    json!({"anyOf": [p, {"type": "null"}]})
                },
            );
        }
        out.insert("properties".into(), Value::Object(new));
    }
    Value::Object(out)
}

/// Every inlined `allOf[EndpointSpec, {id, …}]` becomes a `$ref` to `EndpointView`.
fn replace_view_copies(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let is_copy = o
                .get("allOf")
                .and_then(|a| a.get(0))
                .and_then(|f| f.get("$ref"))
                .is_some_and(|r| r == "#/components/schemas/EndpointSpec");
            if is_copy {
                *v = json!({"$ref": "#/components/schemas/EndpointView"});
                return;
            }
            for child in o.values_mut() {
                replace_view_copies(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(replace_view_copies),
        _ => {}
    }
}

/// Declare every status each route can answer, and security as enforced.
fn statuses(doc: &mut Value, token: bool) {
    let Some(Value::Object(paths)) = doc.pointer_mut("/paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let v1 = path.starts_with("/v1/");
        for op in item
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let has_body = op.contains_key("requestBody");
            let has_query = op
                .get("parameters")
                .and_then(Value::as_array)
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            let mut responses: Map<String, Value> = responses;
            let mut add = |code: &str, what: &str| {
                responses
                    .entry(code.to_string())
                    .or_insert_with(|| json!({"description": what, "content": problem()}));
            };
            if v1 {
                add("403", "Cross-site browser request refused");
                add(
                    "503",
                    "Store unavailable, backlog over its bound (push-back) or shutting down; nothing acknowledged",
                );
                if has_body {
                    add("400", "Malformed JSON");
                    add("413", "Body too large");
                    add("415", "Body not application/json");
                    add("422", "Invalid input (every problem under errors[])");
                }
                if has_query || path.contains('{') {
                    add("422", "Invalid input (every problem under errors[])");
                }
            }
            if !token {
                responses.remove("401");
            }
            op.insert("responses".into(), Value::Object(responses));
            if !token || !v1 {
                op.remove("security");
            }
        }
    }
    if !token {
        if let Some(Value::Object(c)) = doc.pointer_mut("/components") {
            c.remove("securitySchemes");
        }
    }
}
