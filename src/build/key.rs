//! The build key of impact maps: what the test binaries' code depends on
//! besides the sources (the toolchain, the target, the features, the
//! profile, the flags). A map recorded under one key does not hold for a
//! build under another: `--affected` then runs everything.

use crate::config::BuildOptions;

/// The variables that change what rustc compiles.
const FLAG_VARS: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "RUSTC",
    "RUSTC_WRAPPER",
];

/// The key of a build made with `options` here: a hash of `rustc -vV`,
/// the build options that change code, and the compiler flags in the
/// environment (`env` reads a variable).
pub fn impact_key(options: &BuildOptions, env: &dyn Fn(&str) -> Option<String>) -> String {
    let rustc = env("RUSTC").map_or_else(crate::toolchain::rustc, Into::into);
    let version = std::process::Command::new(&rustc)
        .arg("-vV")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_else(|| "unknown rustc".into());
    let mut features = options.features.clone();
    features.sort();
    let mut text = format!(
        "{version}\nfeatures={features:?}\nall={}\nno-default={}\nrelease={}\nprofile={:?}\ntarget={:?}\n",
        options.all_features,
        options.no_default_features,
        options.release,
        options.profile,
        options.target,
    );
    for var in FLAG_VARS {
        text.push_str(&format!("{var}={:?}\n", env(var)));
    }
    format!("{:016x}", crate::hash::fnv1a64(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_and_flags_change_the_key_order_does_not() {
        let none = |_: &str| None;
        let base = BuildOptions::default();
        let key = impact_key(&base, &none);
        assert_eq!(key, impact_key(&base, &none));
        let with = |f: &[&str]| BuildOptions {
            features: f.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        assert_ne!(key, impact_key(&with(&["a"]), &none));
        assert_eq!(
            impact_key(&with(&["a", "b"]), &none),
            impact_key(&with(&["b", "a"]), &none)
        );
        let flags = |v: &str| (v == "RUSTFLAGS").then(|| "-C opt-level=1".to_string());
        assert_ne!(key, impact_key(&base, &flags));
        let release = BuildOptions {
            release: true,
            ..Default::default()
        };
        assert_ne!(key, impact_key(&release, &none));
    }
}
