//! `--doc`: the packages whose doctests run, and the cargo arguments of
//! their `cargo test --doc` runs.

use camino::Utf8Path;
use cargo_metadata::{Metadata, Package};

use super::{BuildOutput, DocPackage, cargo_args};
use crate::config::BuildOptions;

/// `--doc`: every selected package whose library has doctests.
pub(super) fn doc_packages(b: &BuildOptions, meta: &Metadata) -> Vec<DocPackage> {
    let spec_name = |spec: &str| spec.split(['@', ':']).next().unwrap_or(spec).to_string();
    let members: Vec<&Package> = meta.workspace_packages();
    let selected: Vec<&Package> = if !b.package.is_empty() {
        let wanted: Vec<String> = b.package.iter().map(|s| spec_name(s)).collect();
        members
            .into_iter()
            .filter(|p| wanted.contains(&p.name.to_string()))
            .collect()
    } else if b.workspace {
        let excluded: Vec<String> = b.exclude.iter().map(|s| spec_name(s)).collect();
        members
            .into_iter()
            .filter(|p| !excluded.contains(&p.name.to_string()))
            .collect()
    } else if meta.workspace_default_members.is_available() {
        members
            .into_iter()
            .filter(|p| meta.workspace_default_members.contains(&p.id))
            .collect()
    } else {
        members
    };
    selected
        .into_iter()
        .filter(|pkg| {
            pkg.targets
                .iter()
                .any(|t| t.doctest && (t.is_lib() || t.is_proc_macro()))
        })
        .map(|pkg| DocPackage {
            id: format!("{}::doc", pkg.name),
            package: pkg.name.to_string(),
            manifest_dir: pkg
                .manifest_path
                .parent()
                .map(Utf8Path::to_path_buf)
                .unwrap_or_default(),
        })
        .collect()
}

/// The cargo arguments of every `cargo test --doc` run: the user's own
/// package selection (`-p`, `--workspace`, `--exclude`, or none) and build
/// options, as `cargo test` would get them. Cargo resolves features for
/// the selected packages together, so a package's doctests see the
/// features (and the build) another selected package turns on, as under
/// `cargo test`; `-p PKG` alone would resolve them anew, rebuilding the
/// library with fewer features (see [`crate::run::doctest`] for how one
/// package's doctests run alone). A relative path is made absolute; an
/// instrumented build's arguments come last (its target directory wins).
pub fn doc_cargo_args(b: &BuildOptions, build: &BuildOutput) -> Vec<String> {
    let absolute = |p: &String| match std::env::current_dir() {
        Ok(cwd) => cwd.join(p).to_string_lossy().into_owned(),
        Err(_) => p.clone(),
    };
    let only_these = BuildOptions {
        package: b.package.clone(),
        workspace: b.workspace,
        exclude: b.exclude.clone(),
        features: b.features.clone(),
        all_features: b.all_features,
        no_default_features: b.no_default_features,
        release: b.release,
        profile: b.profile.clone(),
        target: b.target.clone(),
        target_dir: match build.instrumentation {
            None => b.target_dir.as_ref().map(absolute),
            Some(_) => None,
        },
        manifest_path: b.manifest_path.as_ref().map(absolute),
        locked: b.locked,
        offline: b.offline,
        frozen: b.frozen,
        ..Default::default()
    };
    let mut args = cargo_args(&only_these);
    if let Some(i) = &build.instrumentation {
        args.extend(i.args.iter().cloned());
    }
    args
}
