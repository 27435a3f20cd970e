//! Filters parsed from JSON and evaluated against events.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<Filter, Vec<(String, String)>> {
    Filter::parse(&FilterSpec(v))
}

fn check(filter: Value, data: Value) -> bool {
    let meta = json!({"tenant": "t1"});
    let f = parse(filter).expect("valid filter");
    f.matches(&Subject {
        id: "evt_1",
        event_type: "order.created",
        timestamp: "2026-12-02T00:00:00.000Z",
        data: &data,
        metadata: &meta,
    })
}

#[test]
fn each_operator_compares_as_documented() {
    let d =
        json!({"amount": 150, "country": "DE", "tags": ["a", "b"], "sku": "AB-12", "nil": null});
    let c = |op: &str, path: &str, v: Value| {
        check(json!({"path": path, "op": op, "value": v}), d.clone())
    };
    assert!(c("eq", "/data/amount", json!(150.0)), "numbers by value");
    assert!(!c("eq", "/data/amount", json!("150")), "no type coercion");
    assert!(c("eq", "/data/tags", json!(["a", "b"])));
    assert!(c("eq", "/data/nil", json!(null)));
    assert!(c("ne", "/data/country", json!("US")));
    assert!(
        c("ne", "/data/missing", json!(1)),
        "a missing field is not equal"
    );
    assert!(c("gt", "/data/amount", json!(100)) && !c("gt", "/data/amount", json!(150)));
    assert!(c("gte", "/data/amount", json!(150)));
    assert!(c("lt", "/data/amount", json!(151)) && !c("lt", "/data/amount", json!(150)));
    assert!(c("lte", "/data/amount", json!(150)));
    assert!(
        c("gt", "/data/country", json!("CH")),
        "strings in byte order"
    );
    assert!(
        !c("gt", "/data/country", json!(1)),
        "a string is not ordered against a number"
    );
    assert!(!c("lt", "/data/missing", json!(1)));
    assert!(c("in", "/data/country", json!(["FR", "DE"])));
    assert!(!c("in", "/data/country", json!(["US"])));
    assert!(c("prefix", "/data/sku", json!("AB-")) && !c("prefix", "/data/amount", json!("1")));
    assert!(c("eq", "/data/tags/1", json!("b")), "array index");
    assert!(!c("eq", "/data/tags/01", json!("b")), "no leading zeros");
    assert!(c("eq", "/type", json!("order.created")));
    assert!(c("prefix", "/id", json!("evt_")));
    assert!(c("eq", "/metadata/tenant", json!("t1")));
    assert!(check(
        json!({"path": "/data/amount", "op": "exists"}),
        d.clone()
    ));
    assert!(
        check(json!({"path": "/data/nil", "op": "exists"}), d.clone()),
        "null exists"
    );
    assert!(check(
        json!({"path": "/data/x", "op": "exists", "value": false}),
        d.clone()
    ));
    assert!(check(
        json!({"path": "/data/a~1b", "op": "eq", "value": 1}),
        json!({"a/b": 1})
    ));
    assert!(check(
        json!({"path": "/data/a~0b", "op": "eq", "value": 1}),
        json!({"a~b": 1})
    ));
}

#[test]
fn groups_combine_conditions() {
    let d = json!({"amount": 150, "country": "DE"});
    let big = json!({"path": "/data/amount", "op": "gt", "value": 100});
    let us = json!({"path": "/data/country", "op": "eq", "value": "US"});
    assert!(!check(json!({"and": [big, us]}), d.clone()));
    assert!(check(json!({"or": [big, us]}), d.clone()));
    assert!(check(json!({"and": [big, {"not": us}]}), d.clone()));
    assert!(!check(json!({"not": {"or": [big, us]}}), d.clone()));
    assert!(check(
        json!({"or": [{"and": [us, big]}, {"not": {"not": big}}]}),
        d
    ));
}

#[test]
fn every_problem_is_reported_with_its_location() {
    let e = parse(json!({"and": [
        {"path": "data/x", "op": "eq", "value": 1},
        {"path": "/data/x", "op": "gtt", "value": 1},
        {"path": "/data/x", "op": "in", "value": 3},
        {"not": {"path": "/type/x", "op": "exists"}},
        {"path": "/data/x", "op": "eq", "value": 1, "extra": true},
        {"or": []},
        {"path": "/data/~2", "op": "eq", "value": 1},
        {"path": "/data/x", "op": "gt", "value": [1]},
        {"path": "/body/x", "op": "eq", "value": 1},
        {"path": "/data/x", "op": "prefix", "value": 1},
        {"path": "/data/x"},
        {"and": [1], "or": []},
        7
    ]}))
    .unwrap_err();
    let locs: Vec<&str> = e.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        locs,
        [
            "filter.and[0].path",
            "filter.and[1].op",
            "filter.and[2].value",
            "filter.and[3].not.path",
            "filter.and[4].extra",
            "filter.and[5].or",
            "filter.and[6].path",
            "filter.and[7].value",
            "filter.and[8].path",
            "filter.and[9].value",
            "filter.and[10].op",
            "filter.and[11]",
            "filter.and[12]",
        ],
        "{e:#?}"
    );
    assert!(
        e[1].1.contains("gtt") && e[1].1.contains("prefix"),
        "{}",
        e[1].1
    );
}

#[test]
fn size_and_depth_are_bounded() {
    let mut deep = json!({"path": "/data/x", "op": "exists"});
    for _ in 0..40 {
        deep = json!({"not": deep});
    }
    assert!(parse(deep).is_err());
    let wide: Vec<Value> = (0..300)
        .map(|_| json!({"path": "/data/x", "op": "exists"}))
        .collect();
    let e = parse(json!({"or": wide})).unwrap_err();
    assert_eq!(e[0].0, "filter");
}
