//! Where a script comes from, compiling it once, and checking its contract.

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::{AST, Engine};

use super::TransformError;
use super::diagnose::{self, Origin};

pub use crate::model::transform::TransformSpec;

impl TransformSpec {
    /// The source text (reading `path` if given).
    pub fn source(&self) -> Result<String, TransformError> {
        match (&self.script, &self.path) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(p)) => std::fs::read_to_string(p).map_err(|e| TransformError::Io {
                path: p.display().to_string(),
                message: e.to_string(),
            }),
            (None, None) => Err(TransformError::Contract("needs `script` or `path`".into())),
        }
    }
}

/// Which function the script defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contract {
    /// `fn transform(event)`.
    Transform,
    /// `fn transform(event, env)`.
    TransformWithEnv,
    /// `fn handler(webhook)` (Svix-compatible).
    Handler,
}

/// A compiled script, shared by every delivery of one endpoint version.
#[derive(Debug)]
pub struct Compiled {
    /// The compiled script.
    pub ast: AST,
    /// Its calling convention.
    pub contract: Contract,
    /// Variables passed as `env`.
    pub env: BTreeMap<String, String>,
    /// Where it came from, for its errors.
    pub origin: Origin,
}

/// `transforms.max_script_bytes`, checked before compiling (where a huge
/// script would cost its time).
pub fn check_size(source: &str, max_script_bytes: usize) -> Result<(), TransformError> {
    if source.len() > max_script_bytes {
        return Err(TransformError::Contract(format!(
            "the script is {} bytes; the limit is {max_script_bytes} (`transforms.max_script_bytes`)",
            source.len()
        )));
    }
    Ok(())
}

/// Compile an inline script (its errors may quote it).
pub fn compile(
    engine: &Engine,
    source: &str,
    env: BTreeMap<String, String>,
) -> Result<Arc<Compiled>, TransformError> {
    compile_as(engine, source, env, Origin::inline(source))
}

/// Compile `source` and check it defines `transform(event[, env])` or `handler(webhook)`.
pub fn compile_as(
    engine: &Engine,
    source: &str,
    env: BTreeMap<String, String>,
    origin: Origin,
) -> Result<Arc<Compiled>, TransformError> {
    let ast = engine.compile(source).map_err(|e| {
        let pos = e.position();
        let (message, hint) = diagnose::compile_message(e.err_type(), source);
        TransformError::Compile {
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
            detail: diagnose::locate(&origin, pos, &message, hint),
            message,
        }
    })?;
    let mut contract = None;
    for f in ast.iter_functions() {
        contract = match (f.name, f.params.len()) {
            ("transform", 1) => Some(Contract::Transform),
            ("transform", 2) => Some(Contract::TransformWithEnv),
            ("handler", 1) => Some(Contract::Handler),
            _ => continue,
        };
        break;
    }
    let contract = contract.ok_or_else(|| {
        TransformError::Contract(
            "the script must define `fn transform(event)`, `fn transform(event, env)` or `fn handler(webhook)`".into(),
        )
    })?;
    Ok(Arc::new(Compiled {
        ast,
        contract,
        env,
        origin,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::{ScriptLimits, engine};

    #[test]
    fn compile_errors_name_line_and_column() {
        let e = engine::build(&ScriptLimits::default());
        let err =
            compile(&e, "fn transform(event) {\n  let x = ;\n}", BTreeMap::new()).unwrap_err();
        match err {
            TransformError::Compile { line, column, .. } => assert_eq!((line, column), (2, 11)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_contract_function_must_exist() {
        let e = engine::build(&ScriptLimits::default());
        assert!(matches!(
            compile(&e, "fn other(x) { x }", BTreeMap::new()),
            Err(TransformError::Contract(_))
        ));
        assert_eq!(
            compile(&e, "fn handler(w) { w }", BTreeMap::new())
                .unwrap()
                .contract,
            Contract::Handler
        );
        assert_eq!(
            compile(&e, "fn transform(e, env) { e }", BTreeMap::new())
                .unwrap()
                .contract,
            Contract::TransformWithEnv
        );
    }

    #[test]
    fn eval_and_imports_are_refused() {
        let e = engine::build(&ScriptLimits::default());
        assert!(compile(&e, "fn transform(e) { eval(\"1\") }", BTreeMap::new()).is_err());
        let c = compile(
            &e,
            "import \"x\" as x; fn transform(e) { e }",
            BTreeMap::new(),
        );
        // Imports compile but can never resolve: DummyModuleResolver.
        if let Ok(c) = c {
            assert!(e.run_ast(&c.ast).is_err());
        }
    }
}
