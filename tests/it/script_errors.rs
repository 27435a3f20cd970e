//! What a script author sees: errors in their words (where, the line under a
//! caret, a hint), limits named by their config key, no silent drops, logs
//! in dry runs, and the documented idioms for optional fields.

use std::collections::BTreeMap;
use std::time::Duration;

use hookbus::endpoint::spec::EndpointSpec;
use hookbus::transform::dry_run::{self, DryRun, TestEvent};
use hookbus::transform::{ScriptLimits, engine, script};
use serde_json::{Value, json};

/// Dry-run `source` on `event` with `limits`, the way the API does.
fn dry_with(limits: &ScriptLimits, source: &str, event: Value) -> DryRun {
    let engine = engine::build(limits);
    let event: TestEvent = serde_json::from_value(event).unwrap();
    let event = event.into_event().unwrap();
    let spec = EndpointSpec::new("dry-run", "http://127.0.0.1/", &[]);
    match script::compile(&engine, source, BTreeMap::new()) {
        Ok(c) => dry_run::dry_run(&engine, Some(&c), &event, &spec, limits),
        Err(e) => dry_run::failed(&e),
    }
}

fn dry(source: &str, event: Value) -> DryRun {
    dry_with(&ScriptLimits::default(), source, event)
}

fn error_of(source: &str, event: Value) -> String {
    let r = dry(source, event);
    r.error
        .unwrap_or_else(|| panic!("expected an error, got {:?}", r.output))
}

#[test]
fn a_missing_property_is_an_error_naming_the_path_with_the_line_under_a_caret() {
    let e = error_of(
        "fn transform(e) {\n    let email = e.data.customer.email;\n    #{email: email}\n}",
        json!({"type": "order.created", "data": {"id": 1}}),
    );
    assert!(e.contains("`e.data.customer` is missing"), "{e}");
    assert!(e.starts_with("inline script, line 2, column"), "{e}");
    assert!(
        e.contains("\n 2 |     let email = e.data.customer.email;\n"),
        "{e}"
    );
    let caret = e.lines().nth(2).unwrap();
    assert!(caret.trim_end().ends_with('^'), "{e}");
    assert!(e.contains(r#"e.data.get("customer")"#), "the hint: {e}");
}

#[test]
fn operator_mismatches_and_unknown_functions_are_explained() {
    let e = error_of(
        "fn transform(e) { #{x: e.data.total * 2} }",
        json!({"type": "a.b", "data": {"total": "250.00"}}),
    );
    assert!(e.contains("cannot multiply a string by a number"), "{e}");
    assert!(e.contains("parse_float"), "{e}");
    let e = error_of(
        "fn transform(e) { #{n: e.data.name.lenn()} }",
        json!({"type": "a.b", "data": {"name": "x"}}),
    );
    assert!(e.contains("there is no function `lenn`"), "{e}");
    assert!(e.contains("did you mean `len`"), "{e}");
}

#[test]
fn javascript_habits_get_hints() {
    let r = dry(
        "function transform(e) { return e; }",
        json!({"type": "a.b"}),
    );
    let e = r.error.unwrap();
    assert_eq!(r.error_kind.as_deref(), Some("compile"));
    assert!(e.contains("line 1"), "{e}");
    assert!(e.contains("`fn name(args)"), "{e}");
    let e = error_of(
        "const LIMIT = 5;\nfn transform(e) { if e.data.n > LIMIT { e } else { () } }",
        json!({"type": "a.b", "data": {"n": 7}}),
    );
    assert!(e.contains("global::LIMIT"), "{e}");
    // `global::` is the fix the hint names.
    let ok = dry(
        "const LIMIT = 5;\nfn transform(e) { if e.data.n > global::LIMIT { e } else { () } }",
        json!({"type": "a.b", "data": {"n": 7}}),
    );
    assert!(ok.error.is_none(), "{:?}", ok.error);
    let e = error_of(
        "fn handler(webhook) { webhook.payload }",
        json!({"type": "a.b", "data": {}}),
    );
    assert!(e.contains("return the webhook itself"), "{e}");
}

#[test]
fn limit_errors_name_the_limit_and_its_config_key() {
    let ev = json!({"type": "a.b"});
    let e = error_of("fn transform(e) { loop {} }", ev.clone());
    assert!(
        e.contains("more than 100000 operations") && e.contains("transforms.max_operations"),
        "{e}"
    );
    let e = error_of("fn f(n) { f(n + 1) }\nfn transform(e) { f(0) }", ev.clone());
    assert!(e.contains("transforms.max_call_levels"), "{e}");
    let e = error_of(
        "fn transform(e) { let s = \"x\"; loop { s += s; } }",
        ev.clone(),
    );
    assert!(e.contains("transforms.max_string_size"), "{e}");
    // Few operations, each an expensive native call: the wall clock ends it.
    let limits = ScriptLimits {
        max_run_time: "100ms".parse().unwrap(),
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let r = dry_with(
        &limits,
        "fn transform(e) { loop { let s = \"\"; s.pad(200000, \"y\"); s.contains(\"z\"); } }",
        ev,
    );
    let took = started.elapsed();
    assert_eq!(r.error_kind.as_deref(), Some("timeout"), "{:?}", r.error);
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("transforms.max_run_time"),
        "{:?}",
        r.error
    );
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(2),
        "{took:?}"
    );
}

#[test]
fn dry_runs_return_every_print_line_in_order_bounded() {
    let r = dry(
        "fn transform(e) { print(\"first \" + e.type); debug(e.data.n); print(\"last\"); e }",
        json!({"type": "order.created", "data": {"n": 3}}),
    );
    assert_eq!(r.logs.len(), 3, "{:?}", r.logs);
    assert_eq!(r.logs[0], "first order.created");
    assert!(r.logs[1].contains('3'), "{:?}", r.logs);
    assert_eq!(r.logs[2], "last");
    let flood = dry(
        "fn transform(e) { for i in 0..500 { print(`line ${i}`); } e }",
        json!({"type": "a.b"}),
    );
    assert_eq!((flood.logs.len(), flood.logs_dropped), (100, 400));
}

#[test]
fn a_delivered_body_is_accepted_as_the_event_keeping_its_id_and_time() {
    let r = dry(
        "fn transform(e) { #{id: e.id, at: e.timestamp} }",
        json!({"id": "evt_1", "type": "order.created", "timestamp": "2026-12-01T10:00:00.000Z",
               "data": {}, "metadata": {}}),
    );
    assert_eq!(
        r.output,
        json!({"id": "evt_1", "at": "2026-12-01T10:00:00.000Z"})
    );
}

#[test]
fn the_documented_optional_field_idioms_behave_as_documented() {
    let ev = json!({"type": "a.b", "data": {"present": 1, "nested": {"k": "v"}}});
    let out = |src: &str| {
        let r = dry(src, ev.clone());
        (r.output, r.error)
    };
    assert_eq!(
        out(r#"fn transform(e) { #{v: e.data.get("missing") ?? "default"} }"#).0,
        json!({"v": "default"})
    );
    assert_eq!(
        out(r#"fn transform(e) { #{v: if "missing" in e.data { 1 } else { 2 }} }"#).0,
        json!({"v": 2})
    );
    assert_eq!(
        out(r#"fn transform(e) { #{v: e.data.get("nested")?.k} }"#).0,
        json!({"v": "v"})
    );
    assert_eq!(
        out(r#"fn transform(e) { #{v: e.data.get("none")?.k ?? "none"} }"#).0,
        json!({"v": "none"})
    );
    // `?.` guards against a () value, not a missing key.
    assert!(
        out(r#"fn transform(e) { #{v: e.data?.missing} }"#)
            .1
            .is_some()
    );
    // Comparisons across types are false, without an error.
    assert_eq!(
        out(r#"fn transform(e) { #{v: "250" > 100} }"#).0,
        json!({"v": false})
    );
}

/// Every ```rust block of docs/transforms.md is a script: it compiles and runs
/// without error on the event its `// event:` line gives (or a bare one), and
/// matches its `// expect:` line when it has one. A block headed
/// `// scripts/examples/…` is that file's code, word for word.
#[test]
fn every_script_in_the_transforms_guide_runs_as_shown() {
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = std::fs::read_to_string(format!("{root}/docs/transforms.md")).unwrap();
    let mut blocks = 0;
    for block in doc.split("```rust\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let mut event = json!({"type": "order.created", "data": {}});
        let mut expect = None;
        let mut code = Vec::new();
        let mut file = None;
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("// event: ") {
                event = serde_json::from_str(e).unwrap();
            } else if let Some(e) = line.strip_prefix("// expect: ") {
                expect = Some(serde_json::from_str::<Value>(e).unwrap());
            } else if let Some(f) = line.strip_prefix("// scripts/") {
                file = Some(format!("{root}/scripts/{f}"));
            } else {
                code.push(line);
            }
        }
        let code = code.join("\n");
        if let Some(f) = file {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(
                text.contains(code.trim()),
                "{f} differs from the guide:\n{code}"
            );
        }
        let r = dry(&code, event);
        assert!(r.error.is_none(), "{:?} in\n{code}", r.error);
        if let Some(want) = expect {
            assert_eq!(r.output, want, "{code}");
        }
        blocks += 1;
    }
    assert!(blocks >= 4, "found {blocks} scripts");
}
