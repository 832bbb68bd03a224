//! Parsers of option values: each refuses a bad value with a message that
//! says what is allowed (clap adds the option and the value).

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use rnn_fast::config::Named;

/// A whole number of at least 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("must be a whole number of at least 1".into()),
    }
}

/// A number in [0, 1).
pub fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err("must be a number in [0, 1)".into()),
    }
}

/// A finite number above 0.
pub fn positive_f32(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err("must be a positive number".into()),
    }
}

/// A number above 0, or `inf`.
pub fn positive_f32_or_inf(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x > 0.0 => Ok(x),
        _ => Err("must be a positive number or inf".into()),
    }
}

/// A duration in seconds: positive, and at most a year.
pub fn seconds(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(x) if x.is_finite() && x > 0.0 && x <= 31_536_000.0 => Ok(x),
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
