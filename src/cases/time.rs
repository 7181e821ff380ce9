//! Case times as exports write them. One portal writes `2019/2/28 11:25:05`, another
//! `2017-06-08 17:31:20`, an API RFC 3339; a time without a zone is the city's wall clock.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Wall-clock formats seen in hotline exports, tried in order after RFC 3339.
const DATE_TIMES: &[&str] = &["%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y年%m月%d日 %H:%M:%S", "%Y年%m月%d日 %H:%M"];
const DATES: &[&str] = &["%Y/%m/%d", "%Y-%m-%d", "%Y年%m月%d日", "%Y%m%d"];

/// The city's offset from UTC, for times written without one (Beijing: +08:00).
pub fn city_offset(spec: &str) -> Result<FixedOffset, String> {
    let dt = DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{spec}")).map_err(|_| format!("time zone offset {spec:?} is not of the form +08:00"))?;
    Ok(*dt.offset())
}

/// Parse one case time. The error says what was seen, for the report of unparsed rows.
pub fn parse_case_time(raw: &str, offset: FixedOffset) -> Result<DateTime<Utc>, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("the time is empty".into());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let local = DATE_TIMES
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| DATES.iter().find_map(|f| NaiveDate::parse_from_str(s, f).ok()).and_then(|d| d.and_hms_opt(0, 0, 0)));
    match local {
        Some(t) => offset.from_local_datetime(&t).single().map(|t| t.with_timezone(&Utc)).ok_or_else(|| format!("{s:?} does not exist at offset {offset}")),
        None => Err(format!("{s:?} is not a time this reader knows (e.g. 2019/2/28 11:25:05, 2017-06-08 17:31:20, RFC 3339)")),
    }
}

/// A window length such as `7d`, `36h` or `90m`.
pub fn parse_span(raw: &str) -> Result<chrono::Duration, String> {
    let s = raw.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("{raw:?} is not a span like 7d, 36h or 90m"))?;
    let span = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        "w" => chrono::Duration::weeks(n),
        _ => return Err(format!("{raw:?} is not a span like 7d, 36h or 90m")),
    };
    if n <= 0 {
        return Err(format!("{raw:?} must be longer than zero"));
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_export_formats_parse_and_bad_ones_say_why() {
        let bj = city_offset("+08:00").unwrap();
        let at = |s: &str| parse_case_time(s, bj).unwrap().to_rfc3339();
        assert_eq!(at("2019/2/28 11:25:05"), "2019-02-28T03:25:05+00:00");
        assert_eq!(at("2017-06-08 17:31:20"), "2017-06-08T09:31:20+00:00");
        assert_eq!(at("2019/12/1 9:05:00"), "2019-12-01T01:05:00+00:00");
        assert_eq!(at("2019-12-01"), "2019-11-30T16:00:00+00:00");
        assert_eq!(at("2026-11-27T08:00:00Z"), "2026-11-27T08:00:00+00:00");
        for bad in ["", "yesterday", "2019/13/40 25:00:00", "28/2/2019"] {
            assert!(parse_case_time(bad, bj).is_err(), "{bad}");
        }
        assert!(city_offset("Beijing").is_err());
        assert_eq!(parse_span("7d").unwrap(), chrono::Duration::days(7));
        assert!(parse_span("0d").is_err() && parse_span("week").is_err());
    }
}

/// Unix seconds as RFC 3339 in UTC, to the second.
pub fn rfc3339(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
