//! `transform.path` through the API: only files inside
//! `transforms.scripts_dir`, and errors that never quote a file's content.
//!
//! Why: before this, `POST /v1/endpoints` with `transform.path = "/etc/passwd"`
//! answered "Undefined variable: root" — the server read any file it could
//! and echoed its first token.

use std::path::{Path, PathBuf};

use super::ApiError;
use super::error::FieldError;
use crate::endpoint::spec::EndpointSpec;

fn refuse(msg: impl Into<String>) -> ApiError {
    ApiError::invalid(vec![("transform.path".into(), msg.into())])
}

/// Accept `spec.transform.path` only when it is unchanged from `old` (set by
/// the config file) or lies inside `scripts_dir`; store it resolved.
pub fn admit(
    spec: &mut EndpointSpec,
    old: Option<&EndpointSpec>,
    scripts_dir: Option<&Path>,
) -> Result<(), ApiError> {
    let Some(path) = spec.transform.as_ref().and_then(|t| t.path.clone()) else {
        return Ok(());
    };
    let unchanged = old
        .and_then(|o| o.transform.as_ref())
        .and_then(|t| t.path.as_ref())
        .is_some_and(|p| *p == path);
    if unchanged {
        return Ok(());
    }
    let Some(dir) = scripts_dir else {
        return Err(refuse(
            "script files are read only from the config file; send the script inline as \
             `transform.script`, or set transforms.scripts_dir to allow files under it",
        ));
    };
    let resolved = resolve(dir, &path)?;
    if let Some(t) = spec.transform.as_mut() {
        t.path = Some(resolved);
    }
    Ok(())
}

/// `path` (relative to `dir`, or absolute) as a canonical file inside `dir`.
fn resolve(dir: &Path, path: &Path) -> Result<PathBuf, ApiError> {
    let outside = || refuse("must name a .rhai file inside transforms.scripts_dir");
    let base = dir
        .canonicalize()
        .map_err(|_| refuse("transforms.scripts_dir does not exist on the server"))?;
    let full = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    // Canonical form first, so `..` and symlinks cannot step outside.
    let real = full.canonicalize().map_err(|_| outside())?;
    if !real.starts_with(&base) || real.extension().is_none_or(|e| e != "rhai") || !real.is_file() {
        return Err(outside());
    }
    Ok(real)
}

/// Strip what a compile error of a *file* says beyond its position: the
/// parser's message can quote the file (its first token, say).
pub fn hide_file_content(e: ApiError) -> ApiError {
    match e {
        ApiError::Invalid { errors, .. } => {
            let problems = errors
                .into_iter()
                .map(|FieldError { loc, msg }| {
                    if loc == "transform.path" && !msg.starts_with("cannot read script") {
                        // "endpoint `x` (file), line L, column C: …" → "line L, column C".
                        let first = msg.lines().next().unwrap_or_default();
                        let at = first
                            .find("line ")
                            .and_then(|i| first[i..].split(": ").next())
                            .map(|p| format!(" ({p})"))
                            .unwrap_or_default();
                        (
                            loc,
                            format!(
                                "the script file does not compile{at}; its message is not shown \
                                 through the API — run `hookbus transform test FILE` on the server"
                            ),
                        )
                    } else {
                        (loc, msg)
                    }
                })
                .collect();
            ApiError::invalid(problems)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::TransformSpec;

    fn with_path(p: &str) -> EndpointSpec {
        let mut s = EndpointSpec::new("a", "http://127.0.0.1:9/", &[]);
        s.transform = Some(TransformSpec {
            script: None,
            path: Some(p.into()),
            env: Default::default(),
        });
        s
    }

    #[test]
    fn paths_are_refused_without_a_scripts_dir_unless_unchanged_from_the_config() {
        let mut s = with_path("/etc/passwd");
        assert!(admit(&mut s, None, None).is_err());
        let from_config = with_path("/srv/hooks/x.rhai");
        let mut patched = from_config.clone();
        patched.description = "changed".into();
        assert!(admit(&mut patched, Some(&from_config), None).is_ok());
    }

    #[test]
    fn only_rhai_files_inside_the_scripts_dir_are_admitted() {
        let dir = tempfile::tempdir().unwrap();
        let scripts = dir.path().join("scripts");
        std::fs::create_dir(&scripts).unwrap();
        std::fs::write(scripts.join("ok.rhai"), "fn transform(e) { e }").unwrap();
        std::fs::write(dir.path().join("secret.rhai"), "SECRET").unwrap();
        std::fs::write(scripts.join("notes.txt"), "x").unwrap();
        let mut ok = with_path("ok.rhai");
        admit(&mut ok, None, Some(&scripts)).unwrap();
        let stored = ok.transform.unwrap().path.unwrap();
        assert!(stored.is_absolute() && stored.ends_with("scripts/ok.rhai"));
        for bad in ["../secret.rhai", "notes.txt", "/etc/passwd", "missing.rhai"] {
            let mut s = with_path(bad);
            assert!(admit(&mut s, None, Some(&scripts)).is_err(), "{bad}");
        }
    }

    #[test]
    fn compile_errors_of_files_keep_the_position_only() {
        let e = ApiError::invalid(vec![(
            "transform.path".into(),
            "line 1, column 1: Undefined variable: SECRET_TOKEN_abc123".into(),
        )]);
        let shown = hide_file_content(e).to_string();
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("line 1, column 1"), "{shown}");
    }
}
