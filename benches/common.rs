//! Inputs shared by the benchmarks: a ~760-byte order event and the
//! 8-field reshape, as a Rhai script and as the same code in Rust.

#![allow(dead_code)]

use serde_json::{Value, json};

/// A realistic `order.created` payload; with its envelope the event is ~760 bytes.
pub fn order_data() -> Value {
    json!({
        "order_id": "ord_01JD8Z4X2YQ7RM5K3N9B6C0VTA",
        "status": "paid",
        "customer": {
            "id": "cus_8842193",
            "email": "ada.lovelace@example.com",
            "name": "Ada Lovelace",
            "tier": "gold"
        },
        "items": [
            {"sku": "SKU-1001-BLK-M", "name": "Merino hoodie", "qty": 1, "price": 89.00},
            {"sku": "SKU-2044-WHT", "name": "Organic tee", "qty": 3, "price": 24.50},
            {"sku": "SKU-3090", "name": "Canvas tote bag", "qty": 1, "price": 18.00}
        ],
        "total": 180.50,
        "currency": "EUR",
        "shipping": {
            "name": "Ada Lovelace",
            "line1": "12 St James's Square",
            "city": "London",
            "postcode": "SW1Y 4JH",
            "country": "GB",
            "method": "express"
        },
        "notes": "Leave with the concierge if nobody answers.",
        "channel": "web",
        "coupon": "WINTER-2026"
    })
}

/// The 8-field reshape as a hookbus transform.
pub const RESHAPE: &str = r#"
fn transform(event) {
    let d = event.data;
    #{
        kind: event.type,
        order: d.order_id,
        email: d.customer.email,
        name: d.customer.name,
        total: d.total,
        currency: d.currency,
        items: d.items.len(),
        city: d.shipping.city,
    }
}
"#;

/// The same reshape in Rust, from the event JSON to body bytes.
pub fn reshape_native(event: &Value) -> Vec<u8> {
    let d = &event["data"];
    serde_json::to_vec(&json!({
        "kind": event["type"],
        "order": d["order_id"],
        "email": d["customer"]["email"],
        "name": d["customer"]["name"],
        "total": d["total"],
        "currency": d["currency"],
        "items": d["items"].as_array().map_or(0, Vec::len),
        "city": d["shipping"]["city"],
    }))
    .unwrap()
}
