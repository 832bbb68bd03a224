//! Parsers of option values: each refuses a bad value with a message that
//! says what is allowed (clap adds the option and the value).

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use rnn_fast::config::Named;

/// A whole number of at least 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        // Past any count: the option's own limit is in the help the usage
        // error points to (`--hidden`: at most 16384).
        Err(e) => Err(not_a_count(e, 1)),
    }
}

/// The reason for a whole number that did not parse: past the largest
/// the machine counts (not said as if that were the option's limit, which
/// its help gives), or not a whole number of at least `least`.
fn not_a_count(e: std::num::ParseIntError, least: u8) -> String {
    match e.kind() {
        std::num::IntErrorKind::PosOverflow => format!(
            "is too large: past {}, the largest whole number this machine counts",
            u64::MAX
        ),
        _ if least == 0 => "must be a whole number, 0 or more".into(),
        _ => format!("must be a whole number of at least {least}"),
    }
}

/// A whole number, 0 or more.
pub fn count(s: &str) -> Result<usize, String> {
    s.parse().map_err(|e| not_a_count(e, 0))
}

/// A seed: a whole number from 0 to 2^64 - 1.
pub fn seed(s: &str) -> Result<u64, String> {
    s.parse().map_err(|e| not_a_count(e, 0))
}

/// A number in [0, 1).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err("must be a number in [0, 1)".into()),
    }
}

/// A number in [0, 1) as a 32-bit float (one that rounds to 1 is refused).
pub fn fraction_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err("must be a number in [0, 1)".into()),
    }
}

/// A finite number above 0 that a 32-bit float holds.
pub fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x == f32::INFINITY && s.parse::<f64>().is_ok_and(f64::is_finite) => Err(format!(
            "is too large: a positive number up to {:e} is needed",
            f32::MAX
        )),
        Ok(x) if x.is_finite() && x >= f32::MIN_POSITIVE => Ok(x),
        // Subnormal, or rounded to 0: the range said is the normal floats'.
        Ok(x)
            if (0.0..f32::MIN_POSITIVE).contains(&x) && s.parse::<f64>().is_ok_and(|d| d > 0.0) =>
        {
            Err(format!(
                "is too small: a positive number from {:e} is needed",
                f32::MIN_POSITIVE
            ))
        }
        _ => Err(format!(
            "must be a positive number (from {:e} to {:e})",
            f32::MIN_POSITIVE,
            f32::MAX
        )),
    }
}

/// A finite number of at least 0 that a 32-bit float holds.
pub fn non_negative_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(0.0) => Ok(0.0),
        Ok(_) => positive_f32(s).map_err(|e| format!("{e}, or 0")),
        _ => Err(format!(
            "must be 0 or a positive number up to {:e}",
            f32::MAX
        )),
    }
}

/// A number above 0, or `inf` (written so: a finite number too large for
/// a 32-bit float is refused as too large, not taken as `inf`).
pub fn positive_f32_or_inf(s: &str) -> Result<f32, String> {
    let spelled = s.strip_prefix('+').unwrap_or(s).to_ascii_lowercase();
    match spelled.as_str() {
        "inf" | "infinity" => Ok(f32::INFINITY),
        _ => positive_f32(s).map_err(|e| format!("{e}, or inf")),
    }
}

/// A factor in (0, 1]: a learning rate's decay.
pub fn decay_factor(s: &str) -> Result<f32, String> {
    match positive_f32(s) {
        Ok(x) if x <= 1.0 => Ok(x),
        _ => Err(format!(
            "must be a number above 0 and at most 1 (from {:e})",
            f32::MIN_POSITIVE
        )),
    }
}

/// A duration in seconds: positive, and at most a year (checked before
/// rounding to a 32-bit float, which would let 31536001 pass).
pub fn seconds(s: &str) -> Result<f32, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x as f32 > 0.0 && x <= 31_536_000.0 => Ok(x as f32),
        _ => Err("must be a number of seconds, above 0 and at most 31536000 (a year)".into()),
    }
}

/// One of the names of an enum setting, with each name's help line.
pub fn named<T: Named + Send + Sync>() -> impl TypedValueParser<Value = T> {
    let values = T::ALL
        .iter()
        .map(|v| PossibleValue::new(v.name()).help(v.help()));
    PossibleValuesParser::new(values)
        .map(|name: String| T::from_name(&name).expect("clap checked the name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_value_is_named_for_what_is_wrong() {
        assert_eq!(positive_f32("0.5"), Ok(0.5));
        let small = positive_f32("1e-40").unwrap_err();
        assert!(small.starts_with("is too small"), "{small}");
        assert!(
            positive_f32("1e39")
                .unwrap_err()
                .starts_with("is too large")
        );
        for bad in [
            "inf", "infinity", "-inf", "NaN", "-1", "0", "x", "-1e39", "-1e-40",
        ] {
            let e = positive_f32(bad).unwrap_err();
            assert!(e.starts_with("must be a positive number"), "{bad}: {e}");
        }
        // Past any count: not said as if that count were the option's limit.
        let huge = at_least_one("99999999999999999999").unwrap_err();
        assert!(huge.starts_with("is too large: past "), "{huge}");
        assert!(
            huge.ends_with(", the largest whole number this machine counts"),
            "{huge}"
        );
        assert_eq!(at_least_one("0").unwrap_err(), "must be at least 1");
        for parse in [count, |s: &str| seed(s).map(|n| n as usize)] {
            assert_eq!(parse("7"), Ok(7));
            assert_eq!(
                parse("-1").unwrap_err(),
                "must be a whole number, 0 or more"
            );
            assert_eq!(parse("99999999999999999999").unwrap_err(), huge);
        }
        // inf only as written; a year at most, before any rounding.
        assert_eq!(positive_f32_or_inf("inf"), Ok(f32::INFINITY));
        assert_eq!(positive_f32_or_inf("2.5"), Ok(2.5));
        assert_eq!(positive_f32_or_inf("+Infinity"), Ok(f32::INFINITY));
        for huge in ["1e308", "1e400"] {
            let e = positive_f32_or_inf(huge).unwrap_err();
            assert!(
                e.starts_with("is too large") || e.starts_with("must be"),
                "{huge}: {e}"
            );
        }
        assert_eq!(seconds("31536000"), Ok(31_536_000.0));
        assert!(seconds("31536001").is_err() && seconds("1e-50").is_err());
        assert_eq!(decay_factor("1"), Ok(1.0));
        assert_eq!(decay_factor("0.5"), Ok(0.5));
        for bad in ["0", "1.5", "1e30", "-0.5", "nan"] {
            let e = decay_factor(bad).unwrap_err();
            assert!(
                e.starts_with("must be a number above 0 and at most 1"),
                "{bad}: {e}"
            );
        }
        assert!(
            at_least_one("-1")
                .unwrap_err()
                .starts_with("must be a whole number")
        );
    }
}
