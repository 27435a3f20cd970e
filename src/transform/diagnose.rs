//! Errors for people: Rhai's parse and runtime errors in the script author's
//! words, with where they happened and the line itself under a caret.
//!
//! Pure functions over the error, the source and the engine's limits, so
//! every translation is unit-tested without running anything.

use rhai::{Engine, EvalAltResult, ParseErrorType, Position};

use super::context::DEADLINE_MARKER;

/// Where a script comes from, for the first line of its errors.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The endpoint (empty for a dry run of an inline script).
    pub endpoint: String,
    /// `path` for a file, else "inline script".
    pub script: String,
    /// The text, when it may be quoted (inline scripts; files named through
    /// the API are never quoted back, see docs/transforms.md).
    pub quotable: Option<std::sync::Arc<str>>,
}

impl Origin {
    /// An inline script: named "inline script", and its lines may be quoted.
    pub fn inline(source: &str) -> Self {
        Self {
            endpoint: String::new(),
            script: "inline script".into(),
            quotable: Some(source.into()),
        }
    }

    /// A file, named by its path; its lines are never quoted back.
    pub fn file(path: &std::path::Path) -> Self {
        Self {
            endpoint: String::new(),
            script: path.display().to_string(),
            quotable: None,
        }
    }

    /// The same script, run as `endpoint`.
    pub fn of_endpoint(mut self, endpoint: &str) -> Self {
        self.endpoint = endpoint.to_string();
        self
    }

    fn label(&self) -> String {
        match (self.endpoint.is_empty(), self.script.is_empty()) {
            (true, true) => "script".into(),
            (true, false) => self.script.clone(),
            (false, true) => format!("endpoint `{}`", self.endpoint),
            (false, false) => format!("endpoint `{}` ({})", self.endpoint, self.script),
        }
    }
}

/// `label, line L, column C: message`, the source line with a caret, and a hint.
pub fn locate(origin: &Origin, pos: Position, message: &str, hint: Option<String>) -> String {
    let mut out = origin.label();
    if let (Some(line), col) = (pos.line(), pos.position()) {
        out.push_str(&format!(", line {line}"));
        if let Some(col) = col {
            out.push_str(&format!(", column {col}"));
        }
        out.push_str(": ");
        out.push_str(message);
        if let Some(src) = origin.quotable.as_deref() {
            if let Some(text) = src.lines().nth(line.saturating_sub(1)) {
                let gutter = line.to_string();
                out.push_str(&format!("\n {gutter} | {text}"));
                if let Some(col) = col {
                    let pad: String = text
                        .chars()
                        .take(col.saturating_sub(1))
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    out.push_str(&format!("\n {} | {pad}^", " ".repeat(gutter.len())));
                }
            }
        }
    } else {
        out.push_str(": ");
        out.push_str(message);
    }
    if let Some(h) = hint {
        out.push_str("\nhint: ");
        out.push_str(&h);
    }
    out
}

/// A parse error's message and hint.
pub fn compile_message(err: &ParseErrorType, source: &str) -> (String, Option<String>) {
    let message = err.to_string();
    let hint = match err {
        ParseErrorType::VariableUndefined(name) => undefined_hint(name, source),
        _ if message.contains("function") && source.contains("function ") => Some(js_function()),
        _ => None,
    };
    (message, hint)
}

fn js_function() -> String {
    "Rhai declares functions with `fn name(args) { … }`, not `function`".into()
}

fn undefined_hint(name: &str, source: &str) -> Option<String> {
    if name == "function" {
        return Some(js_function());
    }
    let top_level = source.lines().any(|l| {
        let l = l.trim_start();
        [format!("const {name} "), format!("const {name}=")]
            .iter()
            .any(|p| l.starts_with(p.as_str()))
    });
    if top_level {
        return Some(format!(
            "functions cannot see top-level variables: write `global::{name}` for the top-level `const {name}`"
        ));
    }
    if ["this", "self"].contains(&name) {
        return None;
    }
    Some(format!(
        "`{name}` is not defined here; variables must be declared with `let` before use, and a function sees only its parameters (pass values in, or use `global::` for a top-level `const`)"
    ))
}

/// A runtime error's kind (a bounded metric label), message and position.
pub fn runtime(
    engine: &Engine,
    err: &EvalAltResult,
    source: Option<&str>,
    max_run_time: std::time::Duration,
) -> (&'static str, String, Position, Option<String>) {
    let inner = err.unwrap_inner();
    let pos = inner.position();
    let in_fn = innermost_function(err)
        .filter(|f| !["transform", "handler"].contains(&f.as_str()))
        .map(|f| format!(" (in `fn {f}`)"))
        .unwrap_or_default();
    let (kind, message, hint) = match inner {
        EvalAltResult::ErrorTooManyOperations(..) => (
            "too_many_operations",
            format!(
                "the script ran more than {} operations (limit `transforms.max_operations`)",
                engine.max_operations()
            ),
            None,
        ),
        EvalAltResult::ErrorStackOverflow(..) => (
            "stack_overflow",
            format!(
                "function calls nested deeper than {} levels (limit `transforms.max_call_levels`)",
                engine.max_call_levels()
            ),
            None,
        ),
        EvalAltResult::ErrorDataTooLarge(what, ..) => {
            ("data_too_large", too_large(engine, what), None)
        }
        EvalAltResult::ErrorTerminated(token, ..)
            if token
                .clone()
                .into_string()
                .is_ok_and(|s| s == DEADLINE_MARKER) =>
        {
            (
                "timeout",
                format!(
                    "the script ran longer than {} ms (limit `transforms.max_run_time`)",
                    max_run_time.as_millis()
                ),
                None,
            )
        }
        EvalAltResult::ErrorPropertyNotFound(prop, p) => {
            let path = source
                .and_then(|s| access_path(s, *p, prop))
                .unwrap_or_else(|| prop.clone());
            (
                "runtime",
                format!("`{path}` is missing"),
                Some(missing_hint(&path, prop)),
            )
        }
        // `throw "…"`: the author's own words, as they wrote them.
        EvalAltResult::ErrorRuntime(value, _) => ("runtime", value.to_string(), None),
        EvalAltResult::ErrorFunctionNotFound(sig, _) => {
            let (message, hint) = function_not_found(engine, sig);
            ("runtime", message, hint)
        }
        other => {
            // Rhai's text without its ` (line L, position C)` suffix: the
            // position is given once, in our words.
            let mut text = other.to_string();
            if text.ends_with(')') {
                if let Some(i) = text.rfind(" (line ") {
                    text.truncate(i);
                }
            }
            ("runtime", text, None)
        }
    };
    (kind, format!("{message}{in_fn}"), pos, hint)
}

fn innermost_function(err: &EvalAltResult) -> Option<String> {
    match err {
        EvalAltResult::ErrorInFunctionCall(name, _, inner, _) => {
            innermost_function(inner).or_else(|| Some(name.clone()))
        }
        _ => None,
    }
}

fn too_large(engine: &Engine, what: &str) -> String {
    let w = what.to_ascii_lowercase();
    let (thing, limit, key) = if w.contains("string") {
        ("a string", engine.max_string_size(), "max_string_size")
    } else if w.contains("array") {
        ("an array", engine.max_array_size(), "max_array_size")
    } else if w.contains("map") {
        ("an object map", engine.max_map_size(), "max_map_size")
    } else {
        return format!("{what} too large");
    };
    format!("{thing} grew past {limit} (limit `transforms.{key}`)")
}

/// `data.customer` from the source at the position Rhai reports for the
/// property `customer` (it points at the property name, or at the dot/index).
fn access_path(source: &str, pos: Position, prop: &str) -> Option<String> {
    let line = source.lines().nth(pos.line()?.checked_sub(1)?)?;
    let chars: Vec<char> = line.chars().collect();
    let col = pos.position()?.checked_sub(1)?;
    // Find the property name at or after the reported column.
    let text: String = chars.iter().collect();
    let start_byte = chars.iter().take(col).map(|c| c.len_utf8()).sum::<usize>();
    let rel = text.get(start_byte..)?.find(prop)?;
    let end = start_byte + rel + prop.len();
    let mut begin = start_byte + rel;
    // Walk left over `a.b`, `a?.b` and `a["b"]` chains.
    let bytes = text.as_bytes();
    while begin > 0 {
        let c = bytes[begin - 1] as char;
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '?' | '[' | ']' | '"') {
            begin -= 1;
        } else {
            break;
        }
    }
    let mut path = text
        .get(begin..end)?
        .trim_start_matches(['.', '?'])
        .to_string();
    if path.ends_with(&format!("[\"{prop}")) {
        path.push_str("\"]");
    }
    (!path.is_empty()).then_some(path)
}

fn missing_hint(path: &str, prop: &str) -> String {
    let parent = path
        .strip_suffix(prop)
        .map(|p| p.trim_end_matches(['.', '?', '[', '"']))
        .filter(|p| !p.is_empty())
        .unwrap_or("map");
    format!(
        "reading a missing field is an error in hookbus; for an optional field write `{parent}.get(\"{prop}\")` (gives () when missing, combine with `??` for a default) or test `\"{prop}\" in {parent}` first"
    )
}

fn function_not_found(engine: &Engine, sig: &str) -> (String, Option<String>) {
    let (name, args) = match sig.split_once(" (") {
        Some((n, rest)) => (n.trim(), rest.trim_end_matches(')')),
        None => (sig.trim(), ""),
    };
    let types: Vec<&str> = if args.is_empty() {
        Vec::new()
    } else {
        args.split(", ").collect()
    };
    let word = |t: &str| type_word(t);
    if let (Some(verb), [a, b]) = (operator_verb(name), types.as_slice()) {
        let (a, b) = (word(a), word(b));
        let message = match verb {
            "add" => format!("cannot add {b} to {a}"),
            "subtract" => format!("cannot subtract {b} from {a}"),
            "compare" => format!("cannot compare {a} with {b} using `{name}`"),
            v => format!("cannot {v} {a} by {b}"),
        };
        let hint = (a.contains("string") != b.contains("string")).then(|| {
            "convert first: `parse_float(s)` / `parse_int(s)` turn a string into a number, `n.to_string()` a number into a string".to_string()
        });
        return (message, hint);
    }
    let described: Vec<String> = types.iter().map(|t| word(t)).collect();
    let message = format!(
        "there is no function `{name}` taking ({})",
        described.join(", ")
    );
    let near = nearest_functions(engine, name);
    let hint = if near.iter().any(|n| n == name) {
        Some(format!(
            "`{name}` exists but not for these argument types; see https://rhai.rs/book/ref/ for its forms"
        ))
    } else if near.is_empty() {
        None
    } else {
        Some(format!(
            "did you mean {}?",
            near.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    };
    (message, hint)
}

fn operator_verb(op: &str) -> Option<&'static str> {
    Some(match op {
        "+" | "+=" => "add",
        "-" | "-=" => "subtract",
        "*" | "*=" => "multiply",
        "/" | "/=" => "divide",
        "%" | "%=" => "take the remainder of",
        "<" | ">" | "<=" | ">=" => "compare",
        _ => return None,
    })
}

fn type_word(t: &str) -> String {
    let t = t.trim();
    let w = match t {
        _ if t.contains("String") || t.contains("str") => "a string",
        "i64" | "i32" | "f64" | "f32" | "int" | "float" | "INT" | "FLOAT" => "a number",
        "bool" => "a boolean",
        "()" => "() (a missing value)",
        "char" => "a character",
        _ if t.eq_ignore_ascii_case("map") => "a map",
        _ if t.eq_ignore_ascii_case("array") => "an array",
        _ if t.eq_ignore_ascii_case("blob") => "a blob",
        _ if t.contains("Instant") || t.contains("timestamp") => "a timestamp",
        other => return format!("`{other}`"),
    };
    w.to_string()
}

/// Up to three function names within two edits of `name`.
fn nearest_functions(engine: &Engine, name: &str) -> Vec<String> {
    // Listing every signature costs far more than the rest of an error, and
    // a script can fail on every delivery: list once. Every engine
    // (`engine::build`) registers the same functions, whatever its limits.
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names: Vec<String> = engine
            .gen_fn_signatures(true)
            .into_iter()
            .filter_map(|s| {
                let s = s.strip_prefix("fn ").unwrap_or(&s).to_string();
                s.split('(').next().map(|n| n.trim().to_string())
            })
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
            .collect();
        names.sort();
        names.dedup();
        names
    });
    let mut scored: Vec<(usize, String)> = names
        .iter()
        .map(|n| {
            (
                edit_distance(&n.to_lowercase(), &name.to_lowercase()),
                n.clone(),
            )
        })
        .filter(|(d, _)| *d <= 2)
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
