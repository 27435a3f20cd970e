//! Running a compiled script against one event, and turning its result into a request.

use bytes::Bytes;
use rhai::{CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Scope};

use super::TransformError;
use super::script::{Compiled, Contract};
use super::{context, convert, diagnose};
use crate::model::spec::{EndpointSpec, Method, check_header, check_url};

/// What a transform decided for one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rendered {
    /// Skip this delivery (`()` or `cancel = true`): recorded as `filtered`.
    Skip,
    /// Send this.
    Send(Request),
}

/// A request shaped by a transform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Exact body bytes (signed as-is).
    pub body: Bytes,
    /// `application/json` for maps and arrays, `text/plain` for strings unless a header says otherwise.
    pub content_type: String,
    /// Extra headers from a `handler` script.
    pub headers: Vec<(String, String)>,
    /// Method override from a `handler` script.
    pub method: Option<Method>,
    /// URL override from a `handler` script.
    pub url: Option<String>,
}

/// Run `compiled` for `event` (the `#{id, type, timestamp, data, metadata}` map).
///
/// A panic inside the script engine (a Rhai bug) fails this one run with kind
/// `panic`; it must not take down the pool thread or the API worker running it.
pub fn run(
    engine: &Engine,
    compiled: &Compiled,
    event: Dynamic,
    spec: &EndpointSpec,
    max_output: usize,
) -> Result<Rendered, TransformError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run_script(engine, compiled, event, spec, max_output)
    }))
    .unwrap_or_else(|_| {
        Err(TransformError::Runtime {
            kind: "panic",
            message: "the script engine panicked on this event".into(),
        })
    })
}

fn run_script(
    engine: &Engine,
    compiled: &Compiled,
    event: Dynamic,
    spec: &EndpointSpec,
    max_output: usize,
) -> Result<Rendered, TransformError> {
    // The argument is passed shared so it reaches the function without
    // another deep copy (Rhai copies plain call arguments). Scripts cannot
    // tell: reading a shared value copies it, and this wrapper belongs to
    // this run alone. Only the top level may be shared: Rhai refuses shared
    // values nested inside maps, so the handler's map holds a plain event.
    let env: Map = compiled
        .env
        .iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
        .collect();
    let mut scope = Scope::new();
    // eval_ast(true): top-level statements (`const LIMIT = 5;`) run before
    // the call, so functions can read them as `global::LIMIT`. A script of
    // only `fn` definitions has no statements, and this costs it nothing.
    let opts = CallFnOptions::new().eval_ast(true).rewind_scope(true);
    let result = match compiled.contract {
        Contract::Transform => engine.call_fn_with_options::<Dynamic>(
            opts,
            &mut scope,
            &compiled.ast,
            "transform",
            (event.into_shared(),),
        ),
        Contract::TransformWithEnv => engine.call_fn_with_options::<Dynamic>(
            opts,
            &mut scope,
            &compiled.ast,
            "transform",
            (event.into_shared(), env),
        ),
        Contract::Handler => {
            let webhook = webhook_map(event, spec, env).into_shared();
            engine.call_fn_with_options::<Dynamic>(
                opts,
                &mut scope,
                &compiled.ast,
                "handler",
                (webhook,),
            )
        }
    }
    .map_err(|e| runtime_error(engine, compiled, &e))?;
    let rendered = match compiled.contract {
        Contract::Handler => from_webhook(result)?,
        _ => from_body(result, Vec::new())?,
    };
    if let Rendered::Send(req) = &rendered {
        if req.body.len() > max_output {
            return Err(TransformError::OutputTooLarge {
                size: req.body.len(),
                limit: max_output,
            });
        }
    }
    Ok(rendered)
}

fn webhook_map(event: Dynamic, spec: &EndpointSpec, env: Map) -> Dynamic {
    let mut m = Map::new();
    let (id, ty) = event
        .read_lock::<Map>()
        .map(|e| {
            (
                e.get("id").cloned().unwrap_or_default(),
                e.get("type").cloned().unwrap_or_default(),
            )
        })
        .unwrap_or_default();
    let method = match spec.method {
        Method::Post => "POST",
        Method::Put => "PUT",
    };
    let headers: Map = spec
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
        .collect();
    m.insert("method".into(), method.into());
    m.insert("url".into(), spec.url.clone().into());
    m.insert("headers".into(), headers.into());
    m.insert("event_id".into(), id);
    // Svix's name for it, so a ported `webhook.eventType == …` compares
    // the real type instead of `()` (which silently filters everything).
    m.insert("eventType".into(), ty.clone());
    m.insert("event_type".into(), ty);
    m.insert("env".into(), env.into());
    m.insert("cancel".into(), false.into());
    m.insert("payload".into(), event);
    m.into()
}

fn from_webhook(out: Dynamic) -> Result<Rendered, TransformError> {
    let m = out
        .try_cast::<Map>()
        .ok_or_else(|| TransformError::BadOutput("`handler` must return the webhook map".into()))?;
    if m.get("cancel")
        .and_then(|c| c.as_bool().ok())
        .unwrap_or(false)
    {
        return Ok(Rendered::Skip);
    }
    let mut headers = Vec::new();
    if let Some(h) = m.get("headers") {
        let h = h
            .clone()
            .try_cast::<Map>()
            .ok_or_else(|| TransformError::BadOutput("`headers` must be a map".into()))?;
        for (k, v) in h {
            let v = v
                .into_string()
                .map_err(|_| TransformError::BadOutput(format!("header `{k}` must be a string")))?;
            if !k.eq_ignore_ascii_case("content-type") {
                check_header(&k, &v).map_err(TransformError::BadOutput)?;
            }
            headers.push((k.to_string(), v));
        }
    }
    let method = match m.get("method").map(|v| v.to_string().to_ascii_uppercase()) {
        None => None,
        Some(s) if s == "POST" => Some(Method::Post),
        Some(s) if s == "PUT" => Some(Method::Put),
        Some(s) => {
            return Err(TransformError::BadOutput(format!(
                "method `{s}` is not POST or PUT"
            )));
        }
    };
    let url = match m.get("url") {
        None => None,
        Some(u) => Some(
            check_url(&u.to_string())
                .map_err(TransformError::BadOutput)?
                .to_string(),
        ),
    };
    let Some(payload) = m.get("payload").cloned() else {
        return Err(TransformError::BadOutput(
            "`handler` returned a map without `payload`: return the webhook itself (end with `webhook`, after setting `webhook.payload = …`), not the payload".into(),
        ));
    };
    match from_body(payload, headers)? {
        Rendered::Send(mut req) => {
            req.method = method;
            req.url = url;
            Ok(Rendered::Send(req))
        }
        Rendered::Skip => Err(TransformError::BadOutput(
            "`payload` must not be empty; set `cancel = true` to skip".into(),
        )),
    }
}

fn from_body(out: Dynamic, mut headers: Vec<(String, String)>) -> Result<Rendered, TransformError> {
    if out.is_unit() {
        return Ok(Rendered::Skip);
    }
    let explicit_ct = headers
        .iter()
        .position(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|i| headers.remove(i).1);
    // A number, bool, char, function pointer or timestamp is not a body a
    // receiver expects: say so instead of sending `249.5` as JSON.
    if !(out.is_string() || out.is_map() || out.is_array() || out.is_blob()) {
        return Err(TransformError::BadOutput(format!(
            "the script returned {} `{}`; return a map or an array (sent as JSON), a string (sent as text), or () to skip",
            article(out.type_name()),
            out.type_name()
        )));
    }
    let (body, default_ct) = if out.is_string() {
        (
            Bytes::from(out.into_string().unwrap_or_default()),
            "text/plain; charset=utf-8",
        )
    } else {
        let json = convert::to_json_bytes(&out).map_err(TransformError::BadOutput)?;
        (Bytes::from(json), "application/json")
    };
    Ok(Rendered::Send(Request {
        body,
        content_type: explicit_ct.unwrap_or_else(|| default_ct.to_string()),
        headers,
        method: None,
        url: None,
    }))
}

fn article(type_name: &str) -> &'static str {
    if type_name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// A Rhai error (possibly nested in function calls) in the author's words,
/// with a bounded kind for metrics.
fn runtime_error(engine: &Engine, compiled: &Compiled, e: &EvalAltResult) -> TransformError {
    let (kind, message, pos, hint) = diagnose::runtime(
        engine,
        e,
        compiled.origin.quotable.as_deref(),
        context::max_run_time(),
    );
    TransformError::Runtime {
        kind,
        message: diagnose::locate(&compiled.origin, pos, &message, hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{ScriptLimits, engine, script};

    fn run_script(source: &str) -> Result<Rendered, TransformError> {
        let engine = engine::build(&ScriptLimits::default());
        let compiled = script::compile(&engine, source, Default::default()).unwrap();
        let spec = EndpointSpec::new("t", "https://example.com/hook", &[]);
        let event = crate::transform::convert::to_dynamic(
            &serde_json::json!({"id": "evt_1", "type": "order.created", "data": {"total": 2}}),
        );
        run(&engine, &compiled, event, &spec, 1 << 20)
    }

    #[test]
    fn numbers_bools_and_other_scalars_are_refused_naming_what_is_allowed() {
        for (source, got) in [
            ("fn transform(event) { 249.5 }", "f64"),
            ("fn transform(event) { 42 }", "i64"),
            ("fn transform(event) { true }", "bool"),
            ("fn transform(event) { 'x' }", "char"),
        ] {
            match run_script(source) {
                Err(TransformError::BadOutput(msg)) => {
                    assert!(msg.contains(got), "{msg}");
                    assert!(msg.contains("return a map or an array"), "{msg}");
                }
                other => panic!("{source}: {other:?}"),
            }
        }
        for ok in [
            "fn transform(event) { #{a: 1} }",
            "fn transform(event) { [1, 2] }",
            "fn transform(event) { \"text\" }",
        ] {
            assert!(matches!(run_script(ok), Ok(Rendered::Send(_))), "{ok}");
        }
        assert!(matches!(
            run_script("fn transform(event) { () }"),
            Ok(Rendered::Skip)
        ));
    }

    #[test]
    fn a_svix_handler_sees_event_type_as_event_type() {
        let source = r#"fn handler(webhook) {
            if webhook.eventType != "order.created" { webhook.cancel = true; }
            webhook
        }"#;
        assert!(matches!(run_script(source), Ok(Rendered::Send(_))));
    }

    #[test]
    fn a_panic_inside_the_engine_fails_only_this_run() {
        let engine = engine::build(&ScriptLimits::default());
        let compiled = script::compile(
            &engine,
            "fn transform(event) { event.n += 1; event }",
            Default::default(),
        )
        .unwrap();
        let spec = EndpointSpec::new("t", "https://example.com/hook", &[]);
        // Rhai hits `unreachable!` when its size limits meet a shared value
        // nested inside a map: a real engine panic, reached on purpose.
        let mut m = Map::new();
        m.insert("n".into(), Dynamic::from_int(1));
        m.insert("inner".into(), Dynamic::from_int(2).into_shared());
        match run(&engine, &compiled, Dynamic::from_map(m), &spec, 1 << 20) {
            Err(TransformError::Runtime { kind, .. }) => assert_eq!(kind, "panic"),
            other => panic!("expected a contained panic, got {other:?}"),
        }
        // The engine still works afterwards.
        let ok = crate::transform::convert::to_dynamic(&serde_json::json!({"n": 1}));
        assert!(run(&engine, &compiled, ok, &spec, 1 << 20).is_ok());
    }
}
