//! Durations as the plan and the command line write them: `90` or `90s` (seconds), `5m`, `1h`.

use std::time::Duration;

/// Reads `90`, `90s`, `1.5s`, `5m` or `1h`; a duration of zero or a negative one is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in duration `{text}`: write seconds (`90`, `90s`), \
                 minutes (`5m`) or hours (`1h`)"
            ));
        }
    };
    let value: f64 = number.trim().parse().map_err(|_| {
        format!("`{text}` is not a duration: write seconds (`90`, `90s`), minutes (`5m`) or hours (`1h`)")
    })?;
    let seconds = value * seconds_per_unit;
    if !seconds.is_finite() || seconds <= 0.0 || seconds > 366.0 * 24.0 * 3600.0 {
        return Err(format!(
            "duration `{text}` must be more than zero and at most a year"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_and_without_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("-3s").is_err());
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
