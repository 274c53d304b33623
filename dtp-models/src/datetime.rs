//! Dates and times as calendars and address books state them.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use serde::{Deserialize, Serialize};

/// An iCalendar date or date-time, in one of the four forms RFC 5545
/// allows. Nothing is converted: a floating time stays floating, a time in a
/// named zone keeps the zone id.
///
/// ```
/// use chrono::NaiveDate;
/// use dtp_models::DateTimeValue;
/// let start = DateTimeValue::zoned(
///     "Europe/Berlin",
///     NaiveDate::from_ymd_opt(2024, 5, 1).unwrap().and_hms_opt(9, 30, 0).unwrap(),
/// );
/// assert_eq!(start.tzid(), Some("Europe/Berlin"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DateTimeValue {
    /// An all-day date (`VALUE=DATE`).
    Date(NaiveDate),
    /// A local time with no zone ("floating").
    Floating(NaiveDateTime),
    /// A UTC time (`…Z`).
    Utc(NaiveDateTime),
    /// A local time in a named zone (`TZID=…`).
    Zoned {
        /// The zone id, as written (an IANA id or a `VTIMEZONE`'s TZID).
        tzid: String,
        /// The wall-clock time in that zone.
        local: NaiveDateTime,
    },
}

impl DateTimeValue {
    /// A date-time in a named zone.
    pub fn zoned(tzid: impl Into<String>, local: NaiveDateTime) -> Self {
        DateTimeValue::Zoned {
            tzid: tzid.into(),
            local,
        }
    }

    /// The zone id, for [`DateTimeValue::Zoned`].
    pub fn tzid(&self) -> Option<&str> {
        match self {
            DateTimeValue::Zoned { tzid, .. } => Some(tzid),
            _ => None,
        }
    }

    /// Whether this is an all-day date.
    pub fn is_date(&self) -> bool {
        matches!(self, DateTimeValue::Date(_))
    }

    /// The date part.
    pub fn date(&self) -> NaiveDate {
        match self {
            DateTimeValue::Date(d) => *d,
            DateTimeValue::Floating(t) | DateTimeValue::Utc(t) => t.date(),
            DateTimeValue::Zoned { local, .. } => local.date(),
        }
    }
}

/// A possibly partial date and/or time as vCard allows (`--0203` is a
/// birthday without a year; `T1022` a time alone).
///
/// ```
/// use dtp_models::PartialDateTime;
/// let bday = PartialDateTime::month_day(2, 3);
/// assert_eq!(bday.year, None);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PartialDateTime {
    /// Year.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<u16>,
    /// Month, 1–12.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month: Option<u8>,
    /// Day of month, 1–31.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<u8>,
    /// Hour, 0–23.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<u8>,
    /// Minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minute: Option<u8>,
    /// Second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second: Option<u8>,
    /// UTC offset in minutes (0 for `Z`), when stated; real offsets lie
    /// within ±18 hours, and only those can be written to vCard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utc_offset_minutes: Option<i16>,
}

impl PartialDateTime {
    /// A full date.
    pub fn ymd(year: u16, month: u8, day: u8) -> Self {
        PartialDateTime {
            year: Some(year),
            month: Some(month),
            day: Some(day),
            ..Default::default()
        }
    }

    /// A month and day without a year.
    pub fn month_day(month: u8, day: u8) -> Self {
        PartialDateTime {
            month: Some(month),
            day: Some(day),
            ..Default::default()
        }
    }

    /// Adds a time of day.
    pub fn with_time(mut self, hour: u8, minute: u8, second: u8) -> Self {
        self.hour = Some(hour);
        self.minute = Some(minute);
        self.second = Some(second);
        self
    }

    /// Adds a UTC offset in minutes.
    pub fn with_utc_offset(mut self, minutes: i16) -> Self {
        self.utc_offset_minutes = Some(minutes);
        self
    }

    /// The full date, when year, month and day are all known and valid.
    pub fn to_naive_date(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(
            i32::from(self.year?),
            u32::from(self.month?),
            u32::from(self.day?),
        )
    }

    /// The full instant, when the date, the time and the offset are all known.
    pub fn to_datetime(&self) -> Option<DateTime<FixedOffset>> {
        let date = self.to_naive_date()?;
        let t = date.and_hms_opt(
            u32::from(self.hour?),
            u32::from(self.minute.unwrap_or(0)),
            u32::from(self.second.unwrap_or(0)),
        )?;
        let off = FixedOffset::east_opt(i32::from(self.utc_offset_minutes?) * 60)?;
        t.and_local_timezone(off).single()
    }
}

/// A vCard date property (`BDAY`, `ANNIVERSARY`): a (partial) date, or free
/// text such as `circa 1800` (`VALUE=text`).
///
/// ```
/// use dtp_models::{DateOrText, PartialDateTime};
/// let d = DateOrText::Date(PartialDateTime::ymd(1815, 12, 10));
/// assert!(matches!(d, DateOrText::Date(_)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DateOrText {
    /// A (partial) date and/or time.
    Date(PartialDateTime),
    /// Free text.
    Text(String),
}

/// Declares a string-backed enum with known values and an `Other` fallback,
/// serialized as its (upper-case) token.
macro_rules! token_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $tok:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A value this crate does not know, kept as written (upper-cased).
            Other(String),
        }

        impl $name {
            /// The token as written in iCalendar / vCard.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$var => $tok,)*
                    $name::Other(s) => s,
                }
            }

            /// Parses a token (case-insensitively).
            pub fn parse(s: &str) -> Self {
                let up = s.trim().to_ascii_uppercase();
                match up.as_str() {
                    $($tok => $name::$var,)*
                    _ => $name::Other(up),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok($name::parse(&s))
            }
        }
    };
}
pub(crate) use token_enum;
