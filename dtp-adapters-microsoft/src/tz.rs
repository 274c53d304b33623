//! Windows ⇄ IANA time zone names.
//!
//! Graph's `dateTimeTimeZone.timeZone` holds a Windows name ("Pacific
//! Standard Time") or an IANA name; `originalStartTimeZone` is usually a
//! Windows name. The model keeps IANA ids (iCalendar `TZID`s). The table is
//! the territory-`001` rows of CLDR's `windowsZones.xml` for the zones most
//! mailboxes use; a name not in it is passed through unchanged.

use chrono::{NaiveDateTime, TimeZone};

/// (Windows, IANA) pairs.
pub const WINDOWS_IANA: &[(&str, &str)] = &[
    ("UTC", "Etc/UTC"),
    ("GMT Standard Time", "Europe/London"),
    ("Greenwich Standard Time", "Atlantic/Reykjavik"),
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Central Europe Standard Time", "Europe/Budapest"),
    ("Central European Standard Time", "Europe/Warsaw"),
    ("E. Europe Standard Time", "Europe/Chisinau"),
    ("FLE Standard Time", "Europe/Kiev"),
    ("GTB Standard Time", "Europe/Bucharest"),
    ("Russian Standard Time", "Europe/Moscow"),
    ("Turkey Standard Time", "Europe/Istanbul"),
    ("Israel Standard Time", "Asia/Jerusalem"),
    ("Arabian Standard Time", "Asia/Dubai"),
    ("India Standard Time", "Asia/Calcutta"),
    ("China Standard Time", "Asia/Shanghai"),
    ("Tokyo Standard Time", "Asia/Tokyo"),
    ("Korea Standard Time", "Asia/Seoul"),
    ("Singapore Standard Time", "Asia/Singapore"),
    ("AUS Eastern Standard Time", "Australia/Sydney"),
    ("New Zealand Standard Time", "Pacific/Auckland"),
    ("Eastern Standard Time", "America/New_York"),
    ("Central Standard Time", "America/Chicago"),
    ("Mountain Standard Time", "America/Denver"),
    ("US Mountain Standard Time", "America/Phoenix"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("Alaskan Standard Time", "America/Anchorage"),
    ("Hawaiian Standard Time", "Pacific/Honolulu"),
    ("Atlantic Standard Time", "America/Halifax"),
    ("E. South America Standard Time", "America/Sao_Paulo"),
    ("Argentina Standard Time", "America/Buenos_Aires"),
    ("South Africa Standard Time", "Africa/Johannesburg"),
    ("Egypt Standard Time", "Africa/Cairo"),
];

/// The IANA id of a Windows zone name; an IANA id (or an unknown name)
/// comes back unchanged.
pub fn to_iana(name: &str) -> &str {
    WINDOWS_IANA
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(name))
        .map_or(name, |(_, i)| i)
}

/// The Windows name of an IANA id (including common aliases such as
/// `Asia/Kolkata`), or `None` when the table has none.
pub fn to_windows(iana: &str) -> Option<&'static str> {
    let alias = match iana {
        "Asia/Kolkata" => "Asia/Calcutta",
        "Europe/Kyiv" => "Europe/Kiev",
        "America/Argentina/Buenos_Aires" => "America/Buenos_Aires",
        "UTC" | "Etc/GMT" | "GMT" | "Z" => "Etc/UTC",
        other => other,
    };
    WINDOWS_IANA
        .iter()
        .find(|(_, i)| *i == alias)
        .map(|(w, _)| *w)
}

/// Whether `name` (Windows or IANA) means UTC.
pub fn is_utc(name: &str) -> bool {
    matches!(
        to_iana(name),
        "Etc/UTC" | "UTC" | "Etc/GMT" | "GMT" | "tzone://Microsoft/Utc"
    )
}

/// The UTC instant of wall-clock time `local` in zone `name` (Windows or
/// IANA); `None` for an unknown zone or a time that does not exist there.
pub fn local_to_utc(local: NaiveDateTime, name: &str) -> Option<NaiveDateTime> {
    if is_utc(name) {
        return Some(local);
    }
    let tz: chrono_tz::Tz = to_iana(name).parse().ok()?;
    tz.from_local_datetime(&local)
        .earliest()
        .map(|t| t.naive_utc())
}

/// The wall-clock time in zone `name` of UTC instant `utc`.
pub fn utc_to_local(utc: NaiveDateTime, name: &str) -> Option<NaiveDateTime> {
    if is_utc(name) {
        return Some(utc);
    }
    let tz: chrono_tz::Tz = to_iana(name).parse().ok()?;
    Some(tz.from_utc_datetime(&utc).naive_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_iana_both_ways() {
        assert_eq!(to_iana("Pacific Standard Time"), "America/Los_Angeles");
        assert_eq!(to_iana("Europe/Berlin"), "Europe/Berlin");
        assert_eq!(to_windows("Asia/Kolkata"), Some("India Standard Time"));
        assert_eq!(to_windows("Mars/Olympus"), None);
        let local = chrono::NaiveDate::from_ymd_opt(2025, 7, 1)
            .unwrap()
            .and_hms_opt(9, 0, 0)
            .unwrap();
        let utc = local_to_utc(local, "W. Europe Standard Time").unwrap();
        assert_eq!(utc.format("%H:%M").to_string(), "07:00");
        assert_eq!(utc_to_local(utc, "Europe/Berlin").unwrap(), local);
    }
}
