//! Printing API answers: pretty JSON (machine-stable: the server's own
//! answer), or readable tables, aligned blocks and one-line summaries.

use std::io::IsTerminal;

use serde_json::Value;

/// Print pretty JSON (the `--format json` path of every command).
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// `label  value` lines with the labels padded to one width; empty values are left out.
pub fn block(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| k.len())
        .max()
        .unwrap_or(0);
    rows.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("  {k:<width$}  {v}\n"))
        .collect()
}

/// Status codes as ranges: `[200, 201, …, 299]` → `200-299`; `[200, 204]` → `200, 204`.
pub fn code_ranges(codes: &[u16]) -> String {
    let mut sorted = codes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if end == start {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// Emphasis for what the user must not miss (bold yellow), on a colour terminal only.
pub fn highlight(s: &str) -> String {
    if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        format!("\x1b[1;33m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

/// A JSON value as one short display string (`-` for null; Unix-ms numbers under `*_at` keys as RFC 3339).
pub fn text(v: &Value) -> String {
    cell(v)
}

/// A plain-text table with a header line.
pub fn table(rows: &[Value], columns: &[(&str, &str)]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, f)| cell(pointer(r, f))).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|c| c[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: Vec<String>| {
        let mut s = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(columns.iter().map(|(h, _)| h.to_string()).collect());
    for c in cells {
        out += &line(c);
    }
    if rows.is_empty() {
        out += "(none)\n";
    }
    out
}

fn pointer<'a>(v: &'a Value, field: &str) -> &'a Value {
    v.pointer(&format!("/{}", field.replace('.', "/")))
        .unwrap_or(&Value::Null)
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(cell).collect::<Vec<_>>().join(","),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// `key: value` lines, nested keys dotted; arrays of objects as indented blocks.
pub fn key_values(v: &Value, prefix: &str) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match val {
                    Value::Object(_) => out += &key_values(val, &key),
                    Value::Array(a) if a.iter().any(Value::is_object) => {
                        for (i, item) in a.iter().enumerate() {
                            out += &key_values(item, &format!("{key}[{i}]"));
                        }
                    }
                    // Stored times are Unix ms; people read RFC 3339 everywhere.
                    Value::Number(n) if k.ends_with("_at") => {
                        let t = n.as_u64().map_or_else(|| cell(val), crate::ids::rfc3339_ms);
                        out += &format!("{key}: {t}\n");
                    }
                    _ => out += &format!("{key}: {}\n", cell(val)),
                }
            }
        }
        other => out += &format!("{}\n", cell(other)),
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns_and_show_missing_values() {
        let rows = vec![
            json!({"name": "a", "n": 1, "x": {"y": "deep"}}),
            json!({"name": "longer", "n": null}),
        ];
        let t = table(&rows, &[("NAME", "name"), ("N", "n"), ("Y", "x.y")]);
        assert_eq!(t, "NAME    N  Y\na       1  deep\nlonger  -  -\n");
    }

    #[test]
    fn code_lists_print_as_ranges() {
        let all: Vec<u16> = (200..=299).collect();
        assert_eq!(code_ranges(&all), "200-299");
        assert_eq!(code_ranges(&[204, 200, 201, 202, 410]), "200-202, 204, 410");
        assert_eq!(code_ranges(&[]), "");
    }

    #[test]
    fn blocks_align_labels_and_skip_empty_values() {
        let b = block(&[
            ("url", "http://x".into()),
            ("description", String::new()),
            ("status", "active".into()),
        ]);
        assert_eq!(b, "  url     http://x\n  status  active\n");
    }

    #[test]
    fn millisecond_times_print_as_rfc3339() {
        let v = json!({"last_success_at": 0, "n": 5});
        assert_eq!(
            key_values(&v, ""),
            "last_success_at: 1970-01-01T00:00:00.000Z\nn: 5\n"
        );
    }

    #[test]
    fn key_values_flatten_nested_objects() {
        let v = json!({"a": {"b": 1}, "c": [1, 2], "d": [{"e": "f"}]});
        assert_eq!(key_values(&v, ""), "a.b: 1\nc: 1,2\nd[0].e: f\n");
    }
}
