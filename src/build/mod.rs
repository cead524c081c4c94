//! Build stage: `cargo test --no-run --message-format=json-render-diagnostics`
//! → the test executables, each with the package data and environment that
//! `cargo test` would give it at run time.
//!
//! [`assemble`] holds the entry point ([`build`]), [`cargo`] the cargo
//! invocations, [`runtime_env`] the environment a test process gets,
//! [`doc`] the `--doc` packages, [`cache`] the metadata cache, [`key`]
//! the build key of impact maps, and
//! [`output`] the types handed on.

pub mod assemble;
pub mod cache;
pub mod cargo;
pub mod doc;
pub mod key;
pub mod output;
pub mod runtime_env;

pub use assemble::build;
pub use cargo::{cargo_args, cargo_program, metadata};
pub use doc::doc_cargo_args;
pub use key::impact_key;
pub use output::{BuildOutput, BuiltAt, DocPackage, TestBinary, WorkspacePackage};
pub use runtime_env::{dylib_path_var, rustc_target_libdir};
