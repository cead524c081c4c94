//! Whether cargo-xdist's own output is colored.

use std::io::IsTerminal;

use crate::cli::ColorArg;
use crate::error::UsageError;

/// Whether the human output is colored: `--color` (or `-- --color`), else
/// `CARGO_TERM_COLOR`, else auto: not when `NO_COLOR` is set and not
/// empty, else when the human output (stdout, stderr under `json`) is a
/// terminal.
pub(super) fn color_wanted(
    choice: Option<ColorArg>,
    json: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<bool, UsageError> {
    let terminal = || {
        if json {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        }
    };
    resolve_color(choice, env, &terminal)
}

fn resolve_color(
    choice: Option<ColorArg>,
    env: &dyn Fn(&str) -> Option<String>,
    terminal: &dyn Fn() -> bool,
) -> Result<bool, UsageError> {
    let choice = match choice {
        Some(c) => c,
        None => match env("CARGO_TERM_COLOR").as_deref() {
            None | Some("") | Some("auto") => ColorArg::Auto,
            Some("always") => ColorArg::Always,
            Some("never") => ColorArg::Never,
            Some(other) => {
                return Err(UsageError(format!(
                    "CARGO_TERM_COLOR is `{other}`, not auto, always or never; fix or unset it"
                )));
            }
        },
    };
    Ok(match choice {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => env("NO_COLOR").is_none_or(|v| v.is_empty()) && terminal(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_follows_flag_then_cargo_then_no_color() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(key, _)| *key == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let tty = || true;
        let color = |c, vars| resolve_color(c, &env(vars), &tty).unwrap();
        assert!(color(None, &[]));
        assert!(!color(None, &[("NO_COLOR", "1")]));
        assert!(color(None, &[("NO_COLOR", "")]));
        assert!(!color(None, &[("CARGO_TERM_COLOR", "never")]));
        assert!(color(
            None,
            &[("CARGO_TERM_COLOR", "always"), ("NO_COLOR", "1")]
        ));
        assert!(color(Some(ColorArg::Always), &[("NO_COLOR", "1")]));
        assert!(!color(
            Some(ColorArg::Never),
            &[("CARGO_TERM_COLOR", "always")]
        ));
        assert!(!color(Some(ColorArg::Auto), &[("NO_COLOR", "1")]));
        assert!(!resolve_color(None, &env(&[]), &|| false).unwrap());
        let err = resolve_color(None, &env(&[("CARGO_TERM_COLOR", "red")]), &tty).unwrap_err();
        assert!(err.0.contains("CARGO_TERM_COLOR"), "{err}");
    }
}
