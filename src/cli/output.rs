//! Printing API answers: pretty JSON, or readable tables and key/value lines.

use serde_json::Value;

use super::OutputFormat;

/// Print `value` per `format`; `columns` (header, JSON field) pick table columns for lists.
pub fn print(format: OutputFormat, value: &Value, columns: &[(&str, &str)]) {
    if format == OutputFormat::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    let rows = value
        .get("data")
        .and_then(Value::as_array)
        .or_else(|| value.as_array());
    match rows {
        Some(rows) if !columns.is_empty() => print!("{}", table(rows, columns)),
        _ => print!("{}", key_values(value, "")),
    }
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
    fn key_values_flatten_nested_objects() {
        let v = json!({"a": {"b": 1}, "c": [1, 2], "d": [{"e": "f"}]});
        assert_eq!(key_values(&v, ""), "a.b: 1\nc: 1,2\nd[0].e: f\n");
    }
}
