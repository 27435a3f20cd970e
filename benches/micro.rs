//! Micro-benchmarks, each next to a baseline measured in the same run:
//! - `match/*`: the subscription trie at 10k/100k/1M subscriptions vs
//!   scanning every endpoint's patterns (10k and 100k only; 1M would take minutes).
//! - `transform/*`: the 8-field Rhai reshape of a ~760-byte event vs the same
//!   reshape in Rust.
//! - `filter/*`: a declarative payload filter (three conditions in `and`,
//!   one `in`, one under `not`) vs the same decision as a Rhai script on the
//!   same event (the script's run includes converting the event, as the pool does).
//! - `sign/*`: both signing schemes vs one bare HMAC-SHA256 of the body.
//! - `enqueue/*`: durable in-process publish (`Hookbus::publish`, no
//!   subscribers: match, the event row, group commit with fsync; 1 and 64
//!   concurrent publishers) vs raw RocksDB batches with sync off.
//!
//! `cargo bench --bench micro`; results and ratios in docs/BENCHMARKS.md.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use hookbus::bus::matcher::{Pattern, Subscriptions, list_matches};
use hookbus::config::Durability;
use hookbus::endpoint::spec::EndpointSpec;
use hookbus::transform::{ScriptLimits, convert, engine, run, script};
use hookbus::{Event, PublishRequest};
use sha2::Sha256;

const DOMAINS: [&str; 8] = [
    "order", "invoice", "customer", "payment", "shipment", "refund", "user", "product",
];
const ACTIONS: [&str; 6] = ["created", "updated", "deleted", "paid", "failed", "shipped"];

/// `n` endpoints over `n / 10` tenants, with the pattern shapes people use:
/// exact types, `*` in the middle, trailing `**`, exclusions, and a few
/// cross-tenant subscriptions. An event matches ~10 endpoints, as in a
/// multi-tenant deployment.
fn subscriptions(n: usize) -> Vec<Vec<Pattern>> {
    (0..n)
        .map(|i| {
            let t = i / 10;
            let d = DOMAINS[i % DOMAINS.len()];
            let a = ACTIONS[i % ACTIONS.len()];
            let raw: Vec<String> = match i % 5 {
                0 => vec![format!("t{t}.{d}.{a}")],
                1 => vec![format!("t{t}.{d}.*")],
                2 => vec![format!("t{t}.**"), format!("!t{t}.{d}.deleted")],
                3 => vec![format!("t{t}.*.{a}"), format!("t{t}.{d}.updated")],
                _ => vec![format!("*.{d}.{a}.v{i}")],
            };
            raw.iter().map(|p| Pattern::parse(p).unwrap()).collect()
        })
        .collect()
}

fn event_types(n: usize) -> Vec<String> {
    (0..1024)
        .map(|k| {
            let t = (k * 7919) % (n / 10);
            format!("t{t}.{}.{}", DOMAINS[k % 8], ACTIONS[k % 6])
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let mut g = c.benchmark_group("match");
    g.throughput(Throughput::Elements(1));
    for n in [10_000usize, 100_000, 1_000_000] {
        let all = subscriptions(n);
        let mut subs = Subscriptions::new();
        for (i, p) in all.iter().enumerate() {
            subs.set(&format!("ep_{i}"), p.clone());
        }
        let types = event_types(n);
        let mut k = 0;
        g.bench_with_input(BenchmarkId::new("trie", n), &n, |b, _| {
            b.iter(|| {
                k = (k + 1) % types.len();
                std::hint::black_box(subs.matching(&types[k]).len())
            })
        });
        if n <= 100_000 {
            g.sample_size(10);
            g.bench_with_input(BenchmarkId::new("scan", n), &n, |b, _| {
                b.iter(|| {
                    k = (k + 1) % types.len();
                    all.iter().filter(|p| list_matches(p, &types[k])).count()
                })
            });
            g.sample_size(100);
        }
    }
    g.finish();
}

fn transform(c: &mut Criterion) {
    let mut g = c.benchmark_group("transform");
    let event = Event::accept(PublishRequest::new("order.created", common::order_data()));
    let body = event.body();
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    eprintln!("transform: event is {} bytes", body.len());
    let engine = engine::build(&ScriptLimits::default());
    let compiled = script::compile(&engine, common::RESHAPE, BTreeMap::new()).unwrap();
    let spec = EndpointSpec::new("bench", "https://example.com/hook", &["**"]);
    let dynamic = convert::to_dynamic(&value);
    // Same output either way (key order aside).
    let rendered = match run::run(&engine, &compiled, dynamic.clone(), &spec, 1 << 20).unwrap() {
        hookbus::transform::Rendered::Send(r) => r.body,
        other => panic!("{other:?}"),
    };
    let a: serde_json::Value = serde_json::from_slice(&rendered).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&common::reshape_native(&value)).unwrap();
    assert_eq!(a, b, "the script and the native reshape agree");

    g.bench_function("native", |b| {
        b.iter(|| common::reshape_native(std::hint::black_box(&value)))
    });
    g.bench_function("rhai", |b| {
        b.iter(|| run::run(&engine, &compiled, dynamic.clone(), &spec, 1 << 20).unwrap())
    });
    // The same run the way the pool makes it: wait for a CPU share, set the
    // run's context (deadline, log routing), run, give the share back.
    let shares = std::sync::Arc::new(hookbus::transform::cpu::CpuShare::new(2));
    g.bench_function("rhai_as_pooled", |b| {
        b.iter(|| {
            use hookbus::transform::context::{self, RunContext};
            shares.acquire();
            let mut ctx = RunContext::new("bench", std::time::Duration::from_millis(250));
            ctx.share = Some(shares.clone());
            let (r, _) = context::with(ctx, || {
                run::run(&engine, &compiled, dynamic.clone(), &spec, 1 << 20)
            });
            shares.release();
            r.unwrap()
        })
    });
    // What bounds the script: the fixed cost of a call that returns an empty
    // map, and the same reshape without `let d = event.data` (which copies
    // the whole data map, as `let` always does in Rhai).
    for (name, src) in [
        ("rhai_empty_call", "fn transform(event) { #{} }".to_string()),
        (
            "rhai_no_copy",
            common::RESHAPE
                .replace("let d = event.data;", "")
                .replace("d.", "event.data."),
        ),
    ] {
        let c = script::compile(&engine, &src, BTreeMap::new()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| run::run(&engine, &c, dynamic.clone(), &spec, 1 << 20).unwrap())
        });
    }
    // Once per event, shared by every scripted endpoint.
    g.bench_function("json_to_dynamic", |b| {
        b.iter(|| convert::to_dynamic(&value))
    });
    g.finish();
}

fn filter(c: &mut Criterion) {
    use hookbus::model::filter::{Filter, FilterSpec, Subject};
    let mut g = c.benchmark_group("filter");
    let event = Event::accept(PublishRequest::new("order.created", common::order_data()));
    let spec = FilterSpec(serde_json::json!({"and": [
        {"path": "/data/total", "op": "gte", "value": 100},
        {"path": "/data/shipping/country", "op": "in", "value": ["GB", "IE", "FR"]},
        {"not": {"path": "/data/customer/tier", "op": "eq", "value": "blocked"}}
    ]}));
    let f = Filter::parse(&spec).unwrap();
    let subject = Subject::of(&event);
    assert!(f.matches(&subject));
    let engine = engine::build(&ScriptLimits::default());
    let src = r#"fn transform(event) {
        let d = event.data;
        if d.total >= 100 && ["GB", "IE", "FR"].contains(d.shipping.country) && !(d.customer.tier == "blocked") {
            event
        } else {
            ()
        }
    }"#;
    let compiled = script::compile(&engine, src, BTreeMap::new()).unwrap();
    let es = EndpointSpec::new("bench", "https://example.com/hook", &["**"]);
    let value: serde_json::Value = serde_json::from_slice(&event.body()).unwrap();
    assert!(matches!(
        run::run(
            &engine,
            &compiled,
            convert::to_dynamic(&value),
            &es,
            1 << 20
        )
        .unwrap(),
        hookbus::transform::Rendered::Send(_)
    ));
    g.bench_function("declarative", |b| {
        b.iter(|| f.matches(std::hint::black_box(&subject)))
    });
    g.bench_function("rhai_equivalent", |b| {
        b.iter(|| {
            run::run(
                &engine,
                &compiled,
                convert::to_dynamic(&value),
                &es,
                1 << 20,
            )
            .unwrap()
        })
    });
    g.finish();
}

fn signing(c: &mut Criterion) {
    let mut g = c.benchmark_group("sign");
    let body = Event::accept(PublishRequest::new("order.created", common::order_data())).body();
    let secret = hookbus::sign::generate_secret();
    let std_key = hookbus::sign::key_bytes(hookbus::sign::Scheme::Standard, &secret).unwrap();
    let keys = vec![std_key.clone()];
    g.bench_function("hmac_sha256_baseline", |b| {
        b.iter(|| {
            let mut m = Hmac::<Sha256>::new_from_slice(&std_key).unwrap();
            m.update(&body);
            m.finalize().into_bytes()
        })
    });
    g.bench_function("standard", |b| {
        b.iter(|| hookbus::sign::standard_signature(&keys, "evt_01JD8Z4X2Y", 1_763_000_000, &body))
    });
    g.bench_function("sha256", |b| {
        b.iter(|| hookbus::sign::sha256_signature(&keys, 1_763_000_000, &body))
    });
    g.finish();
}

fn enqueue(c: &mut Criterion) {
    let mut g = c.benchmark_group("enqueue");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let body = Event::accept(PublishRequest::new("order.created", common::order_data())).body();

    let dir = tempfile::tempdir().unwrap();
    let raw = rocksdb::DB::open_default(dir.path().join("raw")).unwrap();
    let mut wo = rocksdb::WriteOptions::default();
    wo.set_sync(false);
    let mut seq = 0u64;
    g.bench_function("raw_rocksdb_nosync", |b| {
        b.iter(|| {
            seq += 1;
            let mut batch = rocksdb::WriteBatch::default();
            batch.put(format!("e{seq:016}"), &body);
            batch.put(format!("q{seq:016}"), b"ep_1");
            raw.write_opt(batch, &wo).unwrap();
        })
    });

    // The engine's own write path: store rows are the engine's to write, so
    // the durable figure is an in-process publish through the bus.
    let sys = actix_rt::System::new();
    let mut cfg = hookbus::Config::default();
    cfg.storage.durability = Durability::Fsync;
    let hub = sys.block_on(async {
        hookbus::Hookbus::builder()
            .config(cfg)
            .data_dir(dir.path().join("hb"))
            .start()
            .await
            .unwrap()
    });
    for publishers in [1usize, 64] {
        g.bench_function(BenchmarkId::new("group_commit_fsync", publishers), |b| {
            b.iter_custom(|iters| {
                sys.block_on(async {
                    let started = Instant::now();
                    let per = iters.div_ceil(publishers as u64);
                    let tasks: Vec<_> = (0..publishers)
                        .map(|_| {
                            let hub = hub.clone();
                            actix_rt::spawn(async move {
                                for _ in 0..per {
                                    hub.publish(PublishRequest::new(
                                        "order.created",
                                        common::order_data(),
                                    ))
                                    .await
                                    .unwrap();
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    started
                        .elapsed()
                        .mul_f64(iters as f64 / (per * publishers as u64) as f64)
                })
            })
        });
    }
    sys.block_on(hub.shutdown());
    g.finish();
}

criterion_group!(benches, matching, transform, filter, signing, enqueue);
criterion_main!(benches);
