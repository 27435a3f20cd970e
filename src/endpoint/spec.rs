//! The endpoint schema. The types are plain values on the ground floor
//! (`model::spec`); this path stays for existing users.

pub use crate::model::spec::*;
