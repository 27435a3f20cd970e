//! The dashboard's transform playground in headless Chromium: a playground
//! link fills in a script and an event and runs them; the page shows the
//! output, headers and logs, or the error with its caret — checked in the
//! DOM and in a screenshot (the error box's colour is there only on error).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hookbus::PublishRequest;
use serde_json::json;

use crate::utils::*;

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The page's DOM after it ran, and (with `png`) a screenshot of it.
async fn render(chromium: &'static str, url: String, png: Option<PathBuf>) -> String {
    actix_rt::task::spawn_blocking(move || {
        let dom = headless(chromium, &url, &["--dump-dom".to_string()]);
        if let Some(png) = png {
            headless(chromium, &url, &[format!("--screenshot={}", png.display())]);
        }
        dom
    })
    .await
    .unwrap()
}

/// Pixels of `rgb` (±6 per channel) in a PNG, counted by python3's zlib
/// (no image crate in the build for one test). `None` without python3.
fn pixels_of(png: &Path, rgb: (u8, u8, u8)) -> Option<usize> {
    if !which("python3") {
        return None;
    }
    const COUNT: &str = r#"
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), (depth, ctype)
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw, stride = zlib.decompress(idat), w * bpp
prev, out, i = bytearray(stride), 0, 0
want = [int(x) for x in sys.argv[2:5]]
for _ in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride]); i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        if all(abs(line[x + k] - want[k]) <= 6 for k in range(3)): out += 1
    prev = line
print(out)
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(COUNT)
        .arg(png)
        .args([rgb.0, rgb.1, rgb.2].map(|c| c.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// The error box's background (`#ffebe9` in dashboard.html).
const ERROR_BG: (u8, u8, u8) = (0xff, 0xeb, 0xe9);

#[actix_web::test]
async fn the_playground_shows_output_logs_and_errors_in_headless_chromium() {
    let rx = TestReceiver::start(200);
    let mut ep = endpoint("pg-orders", &rx.url, &["order.*"]);
    ep.transform = Some(hookbus::transform::TransformSpec::inline(
        "fn transform(e) { #{total: e.data.total, from: \"endpoint\"} }",
    ));
    let (hub, _dir) = start_hookbus(vec![ep]).await;
    let base = serve_api(&hub);
    let (status, html) = {
        let mut r = awc::Client::new()
            .get(format!("{base}/"))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            String::from_utf8(r.body().await.unwrap().to_vec()).unwrap(),
        )
    };
    assert_eq!(status, 200);
    assert!(html.contains(r#"id="playground""#) && html.contains("v1/transforms/test"));
    let Some(chromium) = chromium() else {
        eprintln!("chromium not installed; skipping the playground browser check");
        hub.shutdown().await;
        return;
    };
    let stored = hub
        .publish(PublishRequest::new("order.created", json!({"total": 99})))
        .await
        .unwrap();
    rx.wait_for(1, Duration::from_secs(5)).await;
    let shots = tempfile::tempdir().unwrap();

    // 1. A pasted script on a pasted event: output, headers, logs; no error.
    let ok = format!(
        "{base}/?script={}&event={}&run=1",
        enc(
            "fn transform(event) {\n    print(\"type: \" + event.type);\n    #{total: event.data.total, seen: true}\n}"
        ),
        enc(r#"{"type": "order.created", "data": {"total": 250}}"#),
    );
    let png_ok = shots.path().join("ok.png");
    let dom = render(chromium, ok, Some(png_ok.clone())).await;
    let output = between(&dom, r#"<pre id="pg-output">"#, "</pre>");
    assert!(
        output.contains(r#""total": 250"#) && output.contains(r#""seen": true"#),
        "output: {output}\n{dom}"
    );
    assert!(between(&dom, r#"<pre id="pg-logs">"#, "</pre>").contains("type: order.created"));
    assert!(
        between(&dom, r#"<pre id="pg-headers">"#, "</pre>")
            .contains("content-type: application/json")
    );
    assert_eq!(between(&dom, r#"<pre id="pg-error">"#, "</pre>"), "");

    // 2. The endpoint's script on its stored event (the endpoint's own run).
    let stored_url = format!("{base}/?endpoint=pg-orders&event_id={}&run=1", stored.id);
    let dom = render(chromium, stored_url, None).await;
    assert!(
        between(&dom, r#"<pre id="pg-output">"#, "</pre>").contains(r#""total": 99"#),
        "{dom}"
    );
    // The endpoint's script was loaded into the editor and ran (the editor's
    // `.value` is not in a DOM dump; the output says whose script it was).
    assert!(
        between(&dom, r#"<pre id="pg-output">"#, "</pre>").contains(r#""from": "endpoint""#),
        "{dom}"
    );
    // Save is offered once an endpoint is picked.
    assert!(
        dom.contains(r#"<button id="pg-save">"#),
        "save enabled: {dom}"
    );
    // "Save to endpoint" sends this PATCH (pgSave in dashboard.html); later
    // deliveries run the saved script. (Headless --dump-dom cannot click, so
    // the request the button makes is sent here.)
    let api = Api::new(base.clone());
    let (status, body) = api
        .call(
            "PATCH",
            "/v1/endpoints/pg-orders",
            Some(json!({"transform": {"script": "fn transform(e) { #{saved: true} }", "path": null}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(html.contains(r#"{ transform: { script: $("pg-script").value, path: null } }"#));
    hub.publish(PublishRequest::new("order.created", json!({})))
        .await
        .unwrap();
    let got = rx.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].json(), json!({"saved": true}));

    // 3. An error: the message, the line under a caret, shown in the error box.
    let bad = format!(
        "{base}/?script={}&event={}&run=1",
        enc("fn transform(event) {\n    #{email: event.data.customer.email}\n}"),
        enc(r#"{"type": "order.created", "data": {}}"#),
    );
    let png_bad = shots.path().join("bad.png");
    let dom = render(chromium, bad, Some(png_bad.clone())).await;
    let error = between(&dom, r#"<pre id="pg-error">"#, "</pre>");
    assert!(
        error.contains("`event.data.customer` is missing"),
        "error: {error}\n{dom}"
    );
    assert!(
        error.contains(" 2 |     #{email: event.data.customer.email}"),
        "{error}"
    );
    assert!(error.contains('^'), "{error}");

    // The screenshots: the error box is painted only in the error case.
    for p in [&png_ok, &png_bad] {
        assert!(
            std::fs::metadata(p)
                .map(|m| m.len() > 1000)
                .unwrap_or(false),
            "{p:?}"
        );
    }
    if let (Some(ok_px), Some(bad_px)) =
        (pixels_of(&png_ok, ERROR_BG), pixels_of(&png_bad, ERROR_BG))
    {
        eprintln!("error-box pixels: ok run {ok_px}, error run {bad_px}");
        assert_eq!(ok_px, 0, "no error box on a good run");
        assert!(bad_px > 2000, "the error box is visible: {bad_px} pixels");
    }
    hub.shutdown().await;
}

/// The text between `start` and the next `end` (HTML entities for `"`, `<`, `>`, `&` undone).
fn between(dom: &str, start: &str, end: &str) -> String {
    let Some(i) = dom.find(start) else {
        return String::new();
    };
    let rest = &dom[i + start.len()..];
    let text = &rest[..rest.find(end).unwrap_or(rest.len())];
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
