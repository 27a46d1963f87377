//! Durations as OpenAI writes them in `x-ratelimit-reset-*` headers and in
//! "Please try again in ..." messages: Go's `time.Duration` text (`1s`,
//! `6m0s`, `12ms`, `1.5s`, `1h2m3s`), at millisecond precision.

use std::time::Duration;

const NANOS_PER_MILLI: u128 = 1_000_000;

/// `d` rounded up to a whole millisecond (OpenAI never sends finer), so a
/// client that waits this long never comes back too early.
pub fn ceil_millis(d: Duration) -> Duration {
    let millis = d.as_nanos().div_ceil(NANOS_PER_MILLI);
    Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX))
}

/// The text OpenAI sends for a reset or retry duration: `d` rounded up to a
/// whole millisecond, then written as Go's `time.Duration::String` does
/// (`0s`, `12ms`, `1.5s`, `59.999s`, `6m0s`, `1h2m3s`).
pub fn format_reset(d: Duration) -> String {
    go_duration(ceil_millis(d))
}

/// Go's `time.Duration::String` for a non-negative duration, to the
/// nanosecond.
fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, precision) = if nanos < 1_000 {
            ("ns", 0)
        } else if nanos < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        let (whole, fraction) = split_fraction(nanos, precision);
        return format!("{whole}{fraction}{unit}");
    }
    let (secs, fraction) = split_fraction(nanos, 9);
    let mut out = String::new();
    if secs >= 3600 {
        out.push_str(&format!("{}h", secs / 3600));
    }
    if secs >= 60 {
        out.push_str(&format!("{}m", secs / 60 % 60));
    }
    out.push_str(&format!("{}{fraction}s", secs % 60));
    out
}

/// `value` split at `precision` decimal digits: the whole part, and the
/// fraction as `.ddd` without trailing zeros (empty when it is zero).
fn split_fraction(value: u128, precision: u32) -> (u128, String) {
    let scale = 10u128.pow(precision);
    let (whole, rest) = (value / scale, value % scale);
    if rest == 0 {
        return (whole, String::new());
    }
    let digits = format!("{rest:0width$}", width = precision as usize);
    (whole, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn formats_as_openai_sends_them() {
        assert_eq!(format_reset(ms(1_000)), "1s");
        assert_eq!(format_reset(ms(360_000)), "6m0s");
        assert_eq!(format_reset(ms(12)), "12ms");
        assert_eq!(format_reset(ms(1_500)), "1.5s");
        assert_eq!(format_reset(ms(59_999)), "59.999s");
        assert_eq!(format_reset(ms(3_723_000)), "1h2m3s");
        assert_eq!(format_reset(ms(1_574)), "1.574s");
        assert_eq!(format_reset(ms(20_000)), "20s");
        assert_eq!(format_reset(ms(60_000)), "1m0s");
        assert_eq!(format_reset(ms(3_600_000)), "1h0m0s");
        assert_eq!(format_reset(ms(90_050)), "1m30.05s");
        assert_eq!(format_reset(Duration::ZERO), "0s");
    }

    #[test]
    fn rounds_up_to_the_millisecond() {
        assert_eq!(format_reset(Duration::from_nanos(1)), "1ms");
        assert_eq!(format_reset(Duration::from_nanos(1_574_400_001)), "1.575s");
        assert_eq!(format_reset(Duration::from_nanos(999_999_999)), "1s");
        assert_eq!(
            ceil_millis(Duration::from_nanos(12_000_001)),
            Duration::from_millis(13)
        );
        assert_eq!(ceil_millis(ms(12)), ms(12));
    }

    #[test]
    fn go_format_below_a_millisecond() {
        assert_eq!(go_duration(Duration::from_nanos(100)), "100ns");
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_nanos(12_500_000)), "12.5ms");
        assert_eq!(
            go_duration(Duration::from_nanos(1_000_000_001)),
            "1.000000001s"
        );
    }
}
