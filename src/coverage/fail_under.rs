//! `--cov-fail-under`: the total line coverage against the minimum.

use super::lcov::Counts;

/// Line coverage under the `--cov-fail-under` minimum.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line coverage {actual:.2}% is under the required {required}%")]
pub struct FailUnder {
    pub actual: f64,
    pub required: f64,
}

/// The total line percentage, or [`FailUnder`] when it is below `required`.
/// Nothing instrumented counts as 0%.
pub fn check_fail_under(lines: Counts, required: f64) -> Result<f64, FailUnder> {
    let actual = lines.percent();
    if actual < required {
        Err(FailUnder { actual, required })
    } else {
        Ok(actual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_under() {
        let c = Counts {
            found: 200,
            hit: 150,
        };
        assert_eq!(check_fail_under(c, 75.0), Ok(75.0));
        let e = check_fail_under(c, 80.0).unwrap_err();
        assert_eq!(e.actual, 75.0);
        assert_eq!(
            e.to_string(),
            "line coverage 75.00% is under the required 80%"
        );
        assert!(check_fail_under(Counts::default(), 1.0).is_err());
        assert_eq!(check_fail_under(Counts::default(), 0.0), Ok(0.0));
    }
}
