//! Holiday calendar and deadline counting: when a statutory period (期间) ends.
//!
//! # Counting rules and their basis
//!
//! Tags as in `domain.md` §0: \[K\] from memory of the statute, not checked word by word;
//! \[P\] checked against republications of the statute text on public web pages.
//!
//! 1. **The day a period starts is not counted** (刑事诉讼法 2018 Art. 105:
//!    "期间开始的时和日不算在期间以内" \[K\]; 民法典 Art. 201:
//!    "开始的当日不计入，自下一日开始计算" \[P\]). A period of `n` calendar days starting (e.g. a
//!    decision taking effect) on day `D` ends on `D + n`.
//! 2. **A last day that is not a working day is moved to the first working day after it**
//!    (刑事诉讼法 Art. 105: "期间的最后一日为节假日的，以节假日后的第一日为期满日期" \[K\];
//!    民法典 Art. 203 \[P\]). "节假日" is read as every non-working day: Saturdays and Sundays
//!    (unless worked as 调休) and the public holidays of the State Council's yearly notice.
//!    Art. 105 does **not** extend a period while the person is in custody
//!    ("在押期间 … 不得因节假日而延长"): such a period is built with [`Period::without_extension`].
//! 3. **Working-day periods count only working days** (the investigation assessment of the
//!    实施办法 ≈Art. 14 is in 工作日 \[K\]): the `n`-th working day after the start day. A weekend
//!    day worked under 调休 counts; a public holiday on a weekday does not. The last day is a
//!    working day by construction, so the extension of rule 2 never applies.
//! 4. **Months** end on the corresponding day of the month `n` months later, or on that month's
//!    last day when it has no such day (民法典 Art. 202:
//!    "到期月的对应日为期间的最后一日；没有对应日的，月末日为期间的最后一日" \[P\]):
//!    31 January + 1 month = 28 (or 29) February. Then rule 2.
//! 5. **Hours** (e.g. the 48 hours of Law Art. 47): business dates have day resolution, the hour
//!    a period starts is not on the ledger. A period of `h` hours is treated as `ceil(h / 24)`
//!    calendar days after the start day, without the rest-day extension (hours run through
//!    weekends and holidays) and whatever the flags say. This is the lenient reading: the true
//!    end lies on or before that day, so a duty met on it may have been a few hours late, but a
//!    duty met in time is never reported late.
//!
//! The flags of a [`Period`] switch rules 1 and 2 off for a parameter that needs it:
//! `start_excluded = false` counts the start day as the first day (`n` calendar days end on
//! `D + n − 1`, never before `D`; the `n`-th working day counts `D` itself; months end the day
//! before the corresponding day); `extend_past_rest_days = false` keeps a last day that falls on a
//! rest day.
//!
//! Open point \[K\]: an interpretation of the Supreme People's Court on the criminal procedure law
//! may count a month starting on the last day of a month to the last day of the next month
//! (28 February + 1 month = 31 March). Rule 4 follows the 民法典 and gives 28 March; check
//! before relying on month periods that start on a month's last day.
//!
//! # The calendar
//!
//! A [`Calendar`] is built from the governance parameter [`HolidayYear`] of each year stored in
//! chain state. A day is a working day when it is Monday–Friday and not listed as a holiday, or a
//! Saturday or Sunday listed as a workday (调休). A year with no `HolidayYear` has no holidays:
//! whoever builds the calendar must load every year a period can reach (the start's year and the
//! next one suffice for the periods of `domain.md` §4).
//!
//! # File format
//!
//! [`parse_holiday_file`] reads one date per line, e.g.
//!
//! ```text
//! # comments and blank lines are ignored
//! 2026-01-01 holiday   元旦
//! 2026-01-04 workday   元旦调休
//! ```
//!
//! `YYYY-MM-DD`, whitespace, `holiday` (a weekday off) or `workday` (a weekend day worked), and
//! optionally a free-text name, ignored. The official calendar shipped with the source is
//! `contracts/calendars/cn-<year>.txt`.
//!
//! Everything here is deterministic (ordered sets, no clock) and total: no input makes it panic;
//! arithmetic saturates at the ends of [`Date`]'s range.

use core::fmt;
use core::ops::Bound::{Excluded, Included};
use std::collections::{BTreeMap, BTreeSet};

use parity_scale_codec::{Decode, DecodeWithMemTracking, Encode};
use serde::{Deserialize, Serialize};

use crate::call::Date;
use crate::governance::{HolidayYear, MAX_CALENDAR_DAYS};

/// What the amount of a [`Period`] counts. Indices are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Calendar days (the statutes' "日").
    #[codec(index = 0)]
    CalendarDays,
    /// Working days (工作日): weekdays that are not holidays, and weekend days worked (调休).
    #[codec(index = 1)]
    WorkingDays,
    /// Calendar months (月).
    #[codec(index = 2)]
    Months,
    /// Hours (小时), counted at day resolution (see the module documentation, rule 5).
    #[codec(index = 3)]
    Hours,
}

impl Unit {
    /// Snake-case name, as in serde.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::CalendarDays => "calendar_days",
            Unit::WorkingDays => "working_days",
            Unit::Months => "months",
            Unit::Hours => "hours",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A statutory period: an amount of a unit, and how it is counted (module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, DecodeWithMemTracking, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// How many units.
    pub amount: u32,
    /// The unit.
    pub unit: Unit,
    /// The start day is not counted (rule 1; the statutory default).
    pub start_excluded: bool,
    /// A last day that is not a working day moves to the next working day (rule 2; the
    /// statutory default, except for persons in custody).
    pub extend_past_rest_days: bool,
}

impl Period {
    const fn statutory(amount: u32, unit: Unit) -> Self {
        Period { amount, unit, start_excluded: true, extend_past_rest_days: true }
    }

    /// `n` calendar days, start day excluded, extended past rest days.
    pub const fn calendar_days(n: u32) -> Self {
        Period::statutory(n, Unit::CalendarDays)
    }

    /// `n` working days after the start day.
    pub const fn working_days(n: u32) -> Self {
        Period::statutory(n, Unit::WorkingDays)
    }

    /// `n` months, start day excluded, extended past rest days.
    pub const fn months(n: u32) -> Self {
        Period::statutory(n, Unit::Months)
    }

    /// `n` hours (counted as `ceil(n / 24)` calendar days, never extended).
    pub const fn hours(n: u32) -> Self {
        Period::statutory(n, Unit::Hours)
    }

    /// The same period without the rest-day extension (a person in custody, 刑事诉讼法 Art. 105).
    pub const fn without_extension(self) -> Self {
        Period { extend_past_rest_days: false, ..self }
    }

    /// The same period with the start day counted as its first day.
    pub const fn including_start_day(self) -> Self {
        Period { start_excluded: false, ..self }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match (self.unit, self.amount == 1) {
            (Unit::CalendarDays, true) => "calendar day",
            (Unit::CalendarDays, false) => "calendar days",
            (Unit::WorkingDays, true) => "working day",
            (Unit::WorkingDays, false) => "working days",
            (Unit::Months, true) => "month",
            (Unit::Months, false) => "months",
            (Unit::Hours, true) => "hour",
            (Unit::Hours, false) => "hours",
        };
        write!(f, "{} {unit}", self.amount)?;
        if self.unit != Unit::Hours {
            if !self.start_excluded {
                f.write_str(", start day counted")?;
            }
            if !self.extend_past_rest_days && self.unit != Unit::WorkingDays {
                f.write_str(", not extended past rest days")?;
            }
        }
        Ok(())
    }
}

/// The working days of the network: weekends, public holidays and 调休 working weekend days,
/// from the [`HolidayYear`]s in chain state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    /// Weekdays off. Holidays listed on a weekend change nothing and are not kept.
    holidays: BTreeSet<Date>,
    /// Weekend days worked. Workdays listed on a weekday change nothing and are not kept.
    workdays: BTreeSet<Date>,
}

impl Calendar {
    /// The calendar of these years. Each year holds its own dates; the order does not matter.
    pub fn new(years: &[HolidayYear]) -> Self {
        let mut cal = Calendar::default();
        for y in years {
            cal.holidays.extend(y.holidays.iter().copied().filter(|d| !d.is_weekend()));
            cal.workdays.extend(y.workdays.iter().copied().filter(|d| d.is_weekend()));
        }
        cal
    }

    /// Monday to Friday unless a listed holiday; Saturday and Sunday only when listed as a
    /// workday (调休).
    pub fn is_working_day(&self, day: Date) -> bool {
        if day.is_weekend() { self.workdays.contains(&day) } else { !self.holidays.contains(&day) }
    }

    /// `day` if it is a working day, else the first working day after it (the latest date if
    /// none is left before the end of the range).
    pub fn first_working_day_from(&self, day: Date) -> Date {
        // Each step passes a weekend day or a listed holiday, and the holidays are finite.
        let mut d = day;
        while !self.is_working_day(d) {
            let next = d.plus_days(1);
            if next == d {
                break;
            }
            d = next;
        }
        d
    }

    /// Working days in `after + 1 ..= until` (0 if `until <= after`).
    pub fn working_days_between(&self, after: Date, until: Date) -> u64 {
        if until <= after {
            return 0;
        }
        let range = (Excluded(after), Included(until));
        let weekdays = weekdays_through(until.0) - weekdays_through(after.0);
        let off = self.holidays.range(range).count() as i64;
        let worked = self.workdays.range(range).count() as i64;
        // Holidays are weekdays of the range, so the count cannot go below 0.
        u64::try_from(weekdays - off + worked).unwrap_or(0)
    }

    /// The last day on which a duty with period `p`, starting on `start`, is still met in time
    /// (module documentation, rules 1–5); never before `start`. Saturates at the end of the date
    /// range.
    pub fn deadline(&self, start: Date, p: &Period) -> Date {
        let n = i64::from(p.amount);
        let last = match p.unit {
            Unit::Hours => return add_days(start, i64::from(p.amount.div_ceil(24))),
            Unit::CalendarDays if p.start_excluded => add_days(start, n),
            Unit::CalendarDays => add_days(start, (n - 1).max(0)),
            Unit::WorkingDays if p.amount == 0 => start,
            Unit::WorkingDays if p.start_excluded => self.nth_working_day_after(start, p.amount),
            Unit::WorkingDays => self.nth_working_day_after(add_days(start, -1), p.amount),
            Unit::Months if p.amount == 0 => start,
            Unit::Months if p.start_excluded => add_months(start, p.amount),
            Unit::Months => add_days(add_months(start, p.amount), -1),
        };
        // Only saturation at the end of the range could put it earlier.
        let last = last.max(start);
        if p.extend_past_rest_days { self.first_working_day_from(last) } else { last }
    }

    /// Calendar days from `deadline` to `as_of`: how late a duty still not met on `as_of` is
    /// (0 on or before the deadline).
    pub fn days_overdue(&self, deadline: Date, as_of: Date) -> u32 {
        let late = i64::from(as_of.0) - i64::from(deadline.0);
        u32::try_from(late.max(0)).unwrap_or(u32::MAX)
    }

    /// The `n`-th working day after `after` (`n >= 1`): the first day `d` with `n` working days
    /// in `after + 1 ..= d`. Binary search: the count grows with `d`, and `n` may be large.
    fn nth_working_day_after(&self, after: Date, n: u32) -> Date {
        let n = u64::from(n);
        if self.working_days_between(after, Date(i32::MAX)) < n {
            return Date(i32::MAX);
        }
        let (mut lo, mut hi) = (i64::from(after.0) + 1, i64::from(i32::MAX));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.working_days_between(after, clamp_date(mid)) >= n {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        clamp_date(lo)
    }
}

/// Monday–Friday days in an (arbitrarily anchored) range ending on day `day`: the difference
/// of two values is the number of weekdays in between.
fn weekdays_through(day: i32) -> i64 {
    // m ≡ weekday (0 = Monday) modulo 7, as in `Date::weekday`.
    let m = i64::from(day) + 3;
    5 * m.div_euclid(7) + (m.rem_euclid(7) + 1).min(5)
}

fn clamp_date(day: i64) -> Date {
    Date(day.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

fn add_days(d: Date, n: i64) -> Date {
    clamp_date(i64::from(d.0).saturating_add(n))
}

/// The corresponding day `n` months later, or the last day of that month (rule 4). A start or a
/// result outside the calendar's years (−9999..=9999) gives the latest date.
fn add_months(start: Date, n: u32) -> Date {
    let Some((year, month, day)) = start.year_month_day() else {
        return Date(i32::MAX);
    };
    let index = i64::from(year) * 12 + i64::from(month) - 1 + i64::from(n);
    let (Ok(y), Ok(m)) = (i32::try_from(index.div_euclid(12)), u8::try_from(index.rem_euclid(12) + 1)) else {
        return Date(i32::MAX);
    };
    // Every month has a 28th: try the same day, then the days before it down to the 28th.
    (day.min(28)..=day).rev().find_map(|d| Date::from_year_month_day(y, m, d)).unwrap_or(Date(i32::MAX))
}

/// Why a holiday file was refused. Lines are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The first field is not a date.
    #[error("line {line}: {text:?} is not a YYYY-MM-DD date")]
    BadDate {
        /// Line number.
        line: usize,
        /// The field.
        text: String,
    },
    /// A date without a kind.
    #[error("line {line}: the date {date} must be followed by `holiday` or `workday`")]
    MissingKind {
        /// Line number.
        line: usize,
        /// The date.
        date: Date,
    },
    /// The second field is neither `holiday` nor `workday`.
    #[error("line {line}: unknown kind {kind:?} (expected `holiday` or `workday`)")]
    UnknownKind {
        /// Line number.
        line: usize,
        /// The field.
        kind: String,
    },
    /// A holiday on a Saturday or Sunday, a rest day anyway: probably a wrong date.
    #[error("line {line}: holiday {date} is a {weekday}, a rest day anyway; list only the weekdays off")]
    HolidayOnWeekend {
        /// Line number.
        line: usize,
        /// The date.
        date: Date,
        /// Its day of the week.
        weekday: &'static str,
    },
    /// A workday on a weekday, a working day anyway: probably a wrong date.
    #[error("line {line}: workday {date} is a {weekday}, a working day anyway; list only weekend days worked (调休)")]
    WorkdayOnWeekday {
        /// Line number.
        line: usize,
        /// The date.
        date: Date,
        /// Its day of the week.
        weekday: &'static str,
    },
    /// The same date twice (as the same kind or as both).
    #[error("line {line}: {date} is already listed on line {first}")]
    Duplicate {
        /// Line number.
        line: usize,
        /// The date.
        date: Date,
        /// Where it was listed first.
        first: usize,
    },
    /// More holidays, or more workdays, in one year than a [`HolidayYear`] holds.
    #[error("line {line}: more than {max} {kind}s in {year}", max = MAX_CALENDAR_DAYS)]
    TooMany {
        /// Line number of the first date over the limit.
        line: usize,
        /// The year.
        year: i32,
        /// `holiday` or `workday`.
        kind: &'static str,
    },
}

const WEEKDAY_NAMES: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

fn weekday_name(d: Date) -> &'static str {
    WEEKDAY_NAMES.get(usize::from(d.weekday())).copied().unwrap_or("?")
}

/// Reads a holiday file (module documentation, "File format"): one [`HolidayYear`] per year
/// found, years in order, dates sorted.
pub fn parse_holiday_file(text: &str) -> Result<Vec<HolidayYear>, CalendarError> {
    #[derive(Default)]
    struct Year {
        holidays: BTreeSet<Date>,
        workdays: BTreeSet<Date>,
    }
    let mut years: BTreeMap<u16, Year> = BTreeMap::new();
    let mut seen: BTreeMap<Date, usize> = BTreeMap::new();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let mut fields = content.split_whitespace();
        let date_text = fields.next().unwrap_or_default();
        let bad_date = || CalendarError::BadDate { line, text: date_text.to_string() };
        let date = Date::parse(date_text).map_err(|_| bad_date())?;
        let (year, _, _) = date.year_month_day().ok_or_else(bad_date)?;
        let year_key = u16::try_from(year).map_err(|_| bad_date())?;
        let kind = fields.next().ok_or(CalendarError::MissingKind { line, date })?;
        let holiday = match kind {
            "holiday" => true,
            "workday" => false,
            other => return Err(CalendarError::UnknownKind { line, kind: other.to_string() }),
        };
        if holiday && date.is_weekend() {
            return Err(CalendarError::HolidayOnWeekend { line, date, weekday: weekday_name(date) });
        }
        if !holiday && !date.is_weekend() {
            return Err(CalendarError::WorkdayOnWeekday { line, date, weekday: weekday_name(date) });
        }
        if let Some(&first) = seen.get(&date) {
            return Err(CalendarError::Duplicate { line, date, first });
        }
        seen.insert(date, line);
        let entry = years.entry(year_key).or_default();
        let (list, kind) = if holiday { (&mut entry.holidays, "holiday") } else { (&mut entry.workdays, "workday") };
        if list.len() >= MAX_CALENDAR_DAYS as usize {
            return Err(CalendarError::TooMany { line, year, kind });
        }
        list.insert(date);
    }
    let mut out = Vec::with_capacity(years.len());
    for (year, y) in years {
        // The counts were checked above; a failure here would still be reported, not panic.
        let too_many = |kind| CalendarError::TooMany { line: 0, year: i32::from(year), kind };
        out.push(HolidayYear {
            year,
            holidays: y.holidays.into_iter().collect::<Vec<_>>().try_into().map_err(|_| too_many("holiday"))?,
            workdays: y.workdays.into_iter().collect::<Vec<_>>().try_into().map_err(|_| too_many("workday"))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    /// The official 2026 calendar shipped with the source.
    const CN_2026: &str = include_str!("../calendars/cn-2026.txt");

    fn d(s: &str) -> Date {
        Date::parse(s).unwrap()
    }

    fn cal2026() -> Calendar {
        Calendar::new(&parse_holiday_file(CN_2026).unwrap())
    }

    fn year(y: u16, holidays: &[&str], workdays: &[&str]) -> HolidayYear {
        HolidayYear {
            year: y,
            holidays: holidays.iter().map(|s| d(s)).collect::<Vec<_>>().try_into().unwrap(),
            workdays: workdays.iter().map(|s| d(s)).collect::<Vec<_>>().try_into().unwrap(),
        }
    }

    // --- the shipped calendar -------------------------------------------------------------

    #[test]
    fn the_2026_file_loads_with_the_notices_dates() {
        let years = parse_holiday_file(CN_2026).unwrap();
        assert_eq!(years.len(), 1);
        let y = &years[0];
        assert_eq!(y.year, 2026);
        let holidays: Vec<String> = y.holidays.iter().map(ToString::to_string).collect();
        let workdays: Vec<String> = y.workdays.iter().map(ToString::to_string).collect();
        assert_eq!(
            holidays,
            [
                "2026-01-01",
                "2026-01-02", // 元旦
                "2026-02-16",
                "2026-02-17",
                "2026-02-18",
                "2026-02-19",
                "2026-02-20",
                "2026-02-23", // 春节
                "2026-04-06", // 清明节
                "2026-05-01",
                "2026-05-04",
                "2026-05-05", // 劳动节
                "2026-06-19", // 端午节
                "2026-09-25", // 中秋节
                "2026-10-01",
                "2026-10-02",
                "2026-10-05",
                "2026-10-06",
                "2026-10-07", // 国庆节
            ]
        );
        assert_eq!(workdays, ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"]);
    }

    /// Each block of the notice, as "first day to last day off, N days": every day of the
    /// block is a rest day and the days either side are working days.
    #[test]
    fn the_2026_blocks_have_the_notices_lengths() {
        let cal = cal2026();
        for (first, last, days) in [
            ("2026-01-01", "2026-01-03", 3),
            ("2026-02-15", "2026-02-23", 9),
            ("2026-04-04", "2026-04-06", 3),
            ("2026-05-01", "2026-05-05", 5),
            ("2026-06-19", "2026-06-21", 3),
            ("2026-09-25", "2026-09-27", 3),
            ("2026-10-01", "2026-10-07", 7),
        ] {
            let (first, last) = (d(first), d(last));
            assert_eq!(last.0 - first.0 + 1, days, "{first}..{last}");
            assert!((first.0..=last.0).all(|x| !cal.is_working_day(Date(x))), "{first}..{last} all off");
            assert!(cal.is_working_day(first.plus_days(-1)), "day before {first} worked");
            assert!(cal.is_working_day(last.plus_days(1)), "day after {last} worked");
        }
    }

    #[test]
    fn working_days_in_2026() {
        // 365 days, 104 weekend days, 19 weekday holidays, 6 weekend days worked.
        let cal = cal2026();
        assert_eq!(cal.working_days_between(d("2025-12-31"), d("2026-12-31")), 365 - 104 - 19 + 6);
        let counted = (d("2026-01-01").0..=d("2026-12-31").0).filter(|&x| cal.is_working_day(Date(x))).count();
        assert_eq!(counted, 248);
    }

    // --- is_working_day ---------------------------------------------------------------------

    #[test]
    fn working_days_without_a_calendar_are_monday_to_friday() {
        let cal = Calendar::default();
        assert!(cal.is_working_day(d("2026-03-06")), "Friday");
        assert!(!cal.is_working_day(d("2026-03-07")), "Saturday");
        assert!(!cal.is_working_day(d("2026-03-08")), "Sunday");
        assert!(cal.is_working_day(d("2026-03-09")), "Monday");
        // A year not in the calendar has no holidays.
        assert!(cal2026().is_working_day(d("2027-01-01")), "2027 not loaded: a plain Friday");
    }

    #[test]
    fn holidays_and_adjusted_weekends() {
        let cal = cal2026();
        assert!(!cal.is_working_day(d("2026-10-01")), "National Day, Thursday");
        assert!(!cal.is_working_day(d("2026-10-03")), "Saturday in the block");
        assert!(cal.is_working_day(d("2026-10-10")), "调休 Saturday");
        assert!(!cal.is_working_day(d("2026-10-11")), "the Sunday after it");
        assert!(cal.is_working_day(d("2026-09-20")), "调休 Sunday");
    }

    #[test]
    fn entries_that_change_nothing_are_ignored_by_the_calendar() {
        // Built directly (the loader refuses these): a holiday on a Saturday, a workday on a Monday.
        let cal = Calendar::new(&[year(2026, &["2026-03-07"], &["2026-03-09"])]);
        assert_eq!(cal, Calendar::default());
    }

    #[test]
    fn years_are_combined_in_any_order() {
        let a = year(2026, &["2026-01-01"], &[]);
        let b = year(2027, &["2027-01-01"], &[]);
        let ab = Calendar::new(&[a.clone(), b.clone()]);
        assert_eq!(ab, Calendar::new(&[b, a]));
        assert!(!ab.is_working_day(d("2026-01-01")) && !ab.is_working_day(d("2027-01-01")));
    }

    // --- calendar days -----------------------------------------------------------------------

    #[test]
    fn the_start_day_is_not_counted() {
        let cal = Calendar::default();
        // Decision effective Monday 2026-03-02; 5 days: Tue 3 … Sat 7 → extended to Mon 9.
        assert_eq!(cal.deadline(d("2026-03-02"), &Period::calendar_days(5)), d("2026-03-09"));
        // Effective Wednesday 2026-03-04; 2 days → Friday 6, a working day.
        assert_eq!(cal.deadline(d("2026-03-04"), &Period::calendar_days(2)), d("2026-03-06"));
        // Counting the start day: one day earlier.
        assert_eq!(cal.deadline(d("2026-03-04"), &Period::calendar_days(3).including_start_day()), d("2026-03-06"));
        // Zero days: the start day itself (never before it).
        assert_eq!(cal.deadline(d("2026-03-04"), &Period::calendar_days(0)), d("2026-03-04"));
        assert_eq!(cal.deadline(d("2026-03-04"), &Period::calendar_days(0).including_start_day()), d("2026-03-04"));
        assert_eq!(cal.deadline(d("2026-03-04"), &Period::calendar_days(1).including_start_day()), d("2026-03-04"));
    }

    #[test]
    fn a_deadline_on_a_weekend_moves_to_monday() {
        let cal = Calendar::default();
        // Friday + 1 = Saturday → Monday; Friday + 2 = Sunday → Monday; Friday + 3 = Monday.
        for n in 1..=3 {
            assert_eq!(cal.deadline(d("2026-03-06"), &Period::calendar_days(n)), d("2026-03-09"), "{n}");
        }
        // Either side: Thursday + 1 = Friday stays; Friday + 4 = Tuesday.
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::calendar_days(1)), d("2026-03-06"));
        assert_eq!(cal.deadline(d("2026-03-06"), &Period::calendar_days(4)), d("2026-03-10"));
        // In custody (no extension): Saturday stays.
        assert_eq!(cal.deadline(d("2026-03-06"), &Period::calendar_days(1).without_extension()), d("2026-03-07"));
    }

    #[test]
    fn a_deadline_in_a_holiday_block_moves_past_it() {
        let cal = cal2026();
        // Judgment effective 2026-09-21 (Monday); 10 days → 2026-10-01, National Day → Thursday
        // 2026-10-08, the first working day after the 1–7 October block.
        assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(10)), d("2026-10-08"));
        // Every last day inside the block (1–7 October) moves to 8 October.
        for n in 10..=16 {
            assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(n)), d("2026-10-08"), "{n}");
        }
        // Either side of the block: 30 September (Wednesday) and 8 October stay.
        assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(9)), d("2026-09-30"));
        assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(17)), d("2026-10-08"));
        assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(18)), d("2026-10-09"));
        // Spring Festival: 5 days from 2026-02-12 → 2026-02-17 → Tuesday 2026-02-24.
        assert_eq!(cal.deadline(d("2026-02-12"), &Period::calendar_days(5)), d("2026-02-24"));
        // Without the extension (custody) the last day stays in the block.
        assert_eq!(cal.deadline(d("2026-09-21"), &Period::calendar_days(10).without_extension()), d("2026-10-01"));
    }

    #[test]
    fn a_deadline_on_an_adjusted_working_weekend_is_not_extended() {
        let cal = cal2026();
        // 2026-10-10 is a 调休 Saturday: a working day, the period ends on it.
        assert_eq!(cal.deadline(d("2026-09-30"), &Period::calendar_days(10)), d("2026-10-10"));
        // 2026-10-11 (Sunday) is a rest day → Monday 12.
        assert_eq!(cal.deadline(d("2026-09-30"), &Period::calendar_days(11)), d("2026-10-12"));
        // 2026-02-14, 调休 Saturday before the Spring Festival.
        assert_eq!(cal.deadline(d("2026-02-04"), &Period::calendar_days(10)), d("2026-02-14"));
    }

    #[test]
    fn a_deadline_into_a_year_not_loaded_sees_only_weekends() {
        // 2027-01-01 is a Friday; without the 2027 calendar it is a working day.
        assert_eq!(cal2026().deadline(d("2026-12-22"), &Period::calendar_days(10)), d("2027-01-01"));
    }

    // --- working days -------------------------------------------------------------------------

    #[test]
    fn working_days_skip_weekends() {
        let cal = Calendar::default();
        // From Monday 2026-03-02: 1 → Tue 3, 4 → Fri 6, 5 → Mon 9, 10 → Mon 16.
        let start = d("2026-03-02");
        assert_eq!(cal.deadline(start, &Period::working_days(1)), d("2026-03-03"));
        assert_eq!(cal.deadline(start, &Period::working_days(4)), d("2026-03-06"));
        assert_eq!(cal.deadline(start, &Period::working_days(5)), d("2026-03-09"));
        assert_eq!(cal.deadline(start, &Period::working_days(10)), d("2026-03-16"));
        // From a Saturday: the first working day is Monday.
        assert_eq!(cal.deadline(d("2026-03-07"), &Period::working_days(1)), d("2026-03-09"));
        // Counting the start day: a working start day is the first.
        assert_eq!(cal.deadline(start, &Period::working_days(1).including_start_day()), start);
        assert_eq!(cal.deadline(start, &Period::working_days(5).including_start_day()), d("2026-03-06"));
        // Zero working days: the start day.
        assert_eq!(cal.deadline(start, &Period::working_days(0)), start);
    }

    #[test]
    fn working_days_across_the_national_day_week() {
        let cal = cal2026();
        // Assessment requested Friday 2026-09-25 (中秋, off). Working days after it: Mon 28,
        // Tue 29, Wed 30, then 1–7 October off, Thu 8, Fri 9, Sat 10 (调休), Mon 12, Tue 13,
        // Wed 14, Thu 15.
        let start = d("2026-09-25");
        let expected = [
            "2026-09-28",
            "2026-09-29",
            "2026-09-30",
            "2026-10-08",
            "2026-10-09",
            "2026-10-10",
            "2026-10-12",
            "2026-10-13",
            "2026-10-14",
            "2026-10-15",
        ];
        for (i, day) in expected.iter().enumerate() {
            let n = u32::try_from(i + 1).unwrap();
            assert_eq!(cal.deadline(start, &Period::working_days(n)), d(day), "{n} working days");
        }
        // The fast track (5 working days) ends on Friday 9 October; a 6th working day is the
        // 调休 Saturday, a working day: not extended past it.
        assert_eq!(cal.deadline(start, &Period::working_days(5)), d("2026-10-09"));
        assert_eq!(cal.deadline(start, &Period::working_days(6)), d("2026-10-10"));
        // 20 September (Sunday) is worked: from Friday 18, the first working day is Sunday 20.
        assert_eq!(cal.deadline(d("2026-09-18"), &Period::working_days(1)), d("2026-09-20"));
    }

    #[test]
    fn working_days_across_the_spring_festival() {
        let cal = cal2026();
        // From Thursday 2026-02-12: Fri 13, Sat 14 (调休), then 15–23 off, Tue 24, …, Fri 27,
        // Sat 28 (调休), Mon 3-02.
        let start = d("2026-02-12");
        assert_eq!(cal.deadline(start, &Period::working_days(2)), d("2026-02-14"));
        assert_eq!(cal.deadline(start, &Period::working_days(3)), d("2026-02-24"));
        assert_eq!(cal.deadline(start, &Period::working_days(7)), d("2026-02-28"));
        assert_eq!(cal.deadline(start, &Period::working_days(8)), d("2026-03-02"));
        assert_eq!(cal.working_days_between(start, d("2026-03-02")), 8);
    }

    #[test]
    fn working_days_agree_with_stepping_day_by_day() {
        let cal = cal2026();
        let start = d("2025-12-20");
        let mut day = start;
        for n in 1..=300u32 {
            day = day.plus_days(1);
            while !cal.is_working_day(day) {
                day = day.plus_days(1);
            }
            assert_eq!(cal.deadline(start, &Period::working_days(n)), day, "{n}");
        }
    }

    // --- months -------------------------------------------------------------------------------

    #[test]
    fn months_end_on_the_corresponding_day() {
        let cal = Calendar::default();
        // 2026-01-15 + 1 month = Sunday 2026-02-15 → Monday 16 (no calendar loaded).
        assert_eq!(cal.deadline(d("2026-01-15"), &Period::months(1)), d("2026-02-16"));
        assert_eq!(cal.deadline(d("2026-01-15"), &Period::months(1).without_extension()), d("2026-02-15"));
        // 3 months (electronic tag): 2026-03-10 → Wednesday 2026-06-10.
        assert_eq!(cal.deadline(d("2026-03-10"), &Period::months(3)), d("2026-06-10"));
        // Across a year: 2026-11-30 + 3 months = 2027-02-28 (Sunday) → Monday 2027-03-01.
        assert_eq!(cal.deadline(d("2026-11-30"), &Period::months(3)), d("2027-03-01"));
        // 12 months.
        assert_eq!(cal.deadline(d("2026-03-10"), &Period::months(12)), d("2027-03-10"));
        // Start day counted: the day before the corresponding day.
        assert_eq!(cal.deadline(d("2026-03-10"), &Period::months(3).including_start_day()), d("2026-06-09"));
        assert_eq!(cal.deadline(d("2026-03-10"), &Period::months(0)), d("2026-03-10"));
    }

    #[test]
    fn month_end_is_clamped() {
        let cal = Calendar::default();
        let no_ext = |n| Period::months(n).without_extension();
        assert_eq!(cal.deadline(d("2026-01-31"), &no_ext(1)), d("2026-02-28"));
        assert_eq!(cal.deadline(d("2026-01-30"), &no_ext(1)), d("2026-02-28"));
        assert_eq!(cal.deadline(d("2026-01-28"), &no_ext(1)), d("2026-02-28"));
        assert_eq!(cal.deadline(d("2026-01-27"), &no_ext(1)), d("2026-02-27"));
        assert_eq!(cal.deadline(d("2026-03-31"), &no_ext(1)), d("2026-04-30"));
        assert_eq!(cal.deadline(d("2026-05-31"), &no_ext(1)), d("2026-06-30"));
        assert_eq!(cal.deadline(d("2026-01-31"), &no_ext(2)), d("2026-03-31"));
        // Not carried over: 31 January + 1 month is 28 February, + 2 months is 31 March.
        assert_eq!(cal.deadline(d("2026-08-31"), &no_ext(6)), d("2027-02-28"));
    }

    #[test]
    fn leap_years() {
        let cal = Calendar::default();
        let no_ext = |n| Period::months(n).without_extension();
        assert_eq!(cal.deadline(d("2028-01-31"), &no_ext(1)), d("2028-02-29"), "2028 is a leap year");
        assert_eq!(cal.deadline(d("2028-02-29"), &no_ext(12)), d("2029-02-28"));
        assert_eq!(cal.deadline(d("2028-02-29"), &no_ext(48)), d("2032-02-29"));
        assert_eq!(cal.deadline(d("2100-01-31"), &no_ext(1)), d("2100-02-28"), "2100 is not");
        assert_eq!(cal.deadline(d("2000-01-31"), &no_ext(1)), d("2000-02-29"), "2000 is");
        // Calendar days across 29 February.
        assert_eq!(cal.deadline(d("2028-02-28"), &Period::calendar_days(1).without_extension()), d("2028-02-29"));
        assert_eq!(cal.deadline(d("2028-02-28"), &Period::calendar_days(2).without_extension()), d("2028-03-01"));
    }

    // --- hours --------------------------------------------------------------------------------

    #[test]
    fn hours_count_as_whole_days_without_extension() {
        let cal = cal2026();
        // 48 hours from Thursday 2026-03-05 → Saturday 7, not extended.
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(48)), d("2026-03-07"));
        // Rounded up: 1–24 hours → 1 day, 25 → 2 days; 0 → the start day.
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(0)), d("2026-03-05"));
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(1)), d("2026-03-06"));
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(24)), d("2026-03-06"));
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(25)), d("2026-03-07"));
        // Through a holiday block, flags ignored.
        assert_eq!(cal.deadline(d("2026-09-30"), &Period::hours(48)), d("2026-10-02"));
        assert_eq!(cal.deadline(d("2026-09-30"), &Period::hours(48).including_start_day()), d("2026-10-02"));
        assert_eq!(cal.deadline(d("2026-03-05"), &Period::hours(u32::MAX)), d("2026-03-05").plus_days(178_956_971));
    }

    // --- overdue ------------------------------------------------------------------------------

    #[test]
    fn days_overdue_counts_calendar_days_after_the_deadline() {
        let cal = cal2026();
        let deadline = d("2026-10-08");
        assert_eq!(cal.days_overdue(deadline, d("2026-10-01")), 0);
        assert_eq!(cal.days_overdue(deadline, d("2026-10-07")), 0);
        assert_eq!(cal.days_overdue(deadline, deadline), 0, "met on the last day: in time");
        assert_eq!(cal.days_overdue(deadline, d("2026-10-09")), 1);
        assert_eq!(cal.days_overdue(deadline, d("2026-10-18")), 10);
        assert_eq!(cal.days_overdue(Date(i32::MIN), Date(i32::MAX)), u32::MAX);
        assert_eq!(cal.days_overdue(Date(i32::MAX), Date(i32::MIN)), 0);
    }

    // --- extremes -----------------------------------------------------------------------------

    #[test]
    fn extremes_saturate_without_panicking() {
        let cal = cal2026();
        let max = Date(i32::MAX);
        for unit in [Unit::CalendarDays, Unit::WorkingDays, Unit::Months, Unit::Hours] {
            for amount in [0, 1, u32::MAX] {
                for (start_excluded, extend) in [(true, true), (false, false), (true, false), (false, true)] {
                    let p = Period { amount, unit, start_excluded, extend_past_rest_days: extend };
                    for start in [Date(i32::MIN), Date(-1), Date(0), max.plus_days(-3), max] {
                        let end = cal.deadline(start, &p);
                        assert!(end >= start || amount == 0, "{p} from {start:?}: {end:?}");
                    }
                }
            }
        }
        assert_eq!(cal.deadline(d("2026-01-05"), &Period::working_days(u32::MAX)), max);
        assert_eq!(cal.deadline(d("9999-12-31"), &Period::months(1)), max);
        assert_eq!(cal.deadline(d("2026-01-05"), &Period::months(u32::MAX)), max);
        // A large working-day count lands where 5 per week says (no holidays past 2026).
        let from = d("2027-01-04"); // Monday
        assert_eq!(cal.deadline(from.plus_days(-1), &Period::working_days(5_000_000)), from.plus_days(6_999_997));
    }

    // --- loader -------------------------------------------------------------------------------

    #[test]
    fn loader_sorts_years_and_dates() {
        let text = "\u{feff}# test\n\n2027-01-01 holiday 元旦\n  2026-10-02 holiday\n2026-10-01\tholiday  国庆节 # x\n\
                    2026-10-10 workday 国庆调休\n   # indented comment\n2026-09-20 workday\n";
        let years = parse_holiday_file(text).unwrap();
        assert_eq!(
            years,
            vec![
                year(2026, &["2026-10-01", "2026-10-02"], &["2026-09-20", "2026-10-10"]),
                year(2027, &["2027-01-01"], &[]),
            ]
        );
        assert_eq!(parse_holiday_file("").unwrap(), vec![]);
        assert_eq!(parse_holiday_file("# only comments\n\n").unwrap(), vec![]);
        // CRLF line ends.
        assert_eq!(parse_holiday_file("2026-10-01 holiday\r\n2026-10-02 holiday\r\n").unwrap().len(), 1);
    }

    #[test]
    fn loader_errors_name_the_line() {
        let err = |text: &str| parse_holiday_file(text).unwrap_err();
        assert_eq!(err("# c\n2026-02-30 holiday\n"), CalendarError::BadDate { line: 2, text: "2026-02-30".into() });
        assert_eq!(err("2026/10/01 holiday"), CalendarError::BadDate { line: 1, text: "2026/10/01".into() });
        assert_eq!(err("\n\n2026-10-01"), CalendarError::MissingKind { line: 3, date: d("2026-10-01") });
        assert_eq!(err("2026-10-01 Holiday"), CalendarError::UnknownKind { line: 1, kind: "Holiday".into() });
        assert_eq!(
            err("2026-10-01 holiday\n2026-10-03 holiday 国庆节"),
            CalendarError::HolidayOnWeekend { line: 2, date: d("2026-10-03"), weekday: "Saturday" }
        );
        assert_eq!(
            err("2026-10-09 workday"),
            CalendarError::WorkdayOnWeekday { line: 1, date: d("2026-10-09"), weekday: "Friday" }
        );
        assert_eq!(
            err("2026-10-01 holiday\n# x\n2026-10-01 holiday"),
            CalendarError::Duplicate { line: 3, date: d("2026-10-01"), first: 1 }
        );
        let msg = err("2026-10-01 holiday\n2026-10-09 workday").to_string();
        assert_eq!(
            msg,
            "line 2: workday 2026-10-09 is a Friday, a working day anyway; list only weekend days worked (调休)"
        );
        let msg = err("2026-10-01 holiday\n2026-10-01 holiday").to_string();
        assert_eq!(msg, "line 2: 2026-10-01 is already listed on line 1");
    }

    #[test]
    fn loader_limits_each_list_per_year() {
        // MAX_CALENDAR_DAYS weekdays of 2026 from 2 March, then one more.
        let weekdays: Vec<Date> =
            (d("2026-03-02").0..).map(Date).filter(|x| !x.is_weekend()).take(MAX_CALENDAR_DAYS as usize + 1).collect();
        let mut text = String::from("# header\n");
        for day in &weekdays[..MAX_CALENDAR_DAYS as usize] {
            text.push_str(&format!("{day} holiday\n"));
        }
        // Exactly the limit is accepted, and a workday list of its own does not count against it.
        let mut ok = text.clone();
        ok.push_str("2026-03-07 workday\n2027-03-01 holiday\n");
        let years = parse_holiday_file(&ok).unwrap();
        assert_eq!(years[0].holidays.len(), MAX_CALENDAR_DAYS as usize);
        assert_eq!(years[0].workdays.len(), 1);
        text.push_str(&format!("{} holiday\n", weekdays[MAX_CALENDAR_DAYS as usize]));
        assert_eq!(
            parse_holiday_file(&text).unwrap_err(),
            CalendarError::TooMany { line: 66, year: 2026, kind: "holiday" }
        );
    }

    // --- codec and serde ------------------------------------------------------------------------

    #[test]
    fn period_encoding_is_stable() {
        assert_eq!(Period::working_days(10).encode(), [10, 0, 0, 0, 1, 1, 1]);
        assert_eq!(Period::hours(48).without_extension().encode(), [48, 0, 0, 0, 3, 1, 0]);
        assert_eq!(Period::decode(&mut &Period::months(3).encode()[..]).unwrap(), Period::months(3));
        assert!(Unit::decode(&mut &[4u8][..]).is_err());
        assert_eq!(Period::calendar_days(5).to_string(), "5 calendar days");
        assert_eq!(Period::months(1).without_extension().to_string(), "1 month, not extended past rest days");
        assert_eq!(Period::working_days(1).including_start_day().to_string(), "1 working day, start day counted");
    }

    // --- properties -----------------------------------------------------------------------------

    fn arb_calendar() -> impl Strategy<Value = Calendar> {
        // Random holidays and workdays around 2026 (some on the "wrong" kind of day).
        let day = d("2025-06-01").0..d("2028-06-01").0;
        (proptest::collection::vec(day.clone(), 0..64), proptest::collection::vec(day, 0..64)).prop_map(|(h, w)| {
            let mut cal = Calendar::default();
            cal.holidays.extend(h.into_iter().map(Date).filter(|x| !x.is_weekend()));
            cal.workdays.extend(w.into_iter().map(Date).filter(|x| x.is_weekend()));
            cal
        })
    }

    proptest! {
        #[test]
        fn calendar_day_deadlines_are_never_early_and_land_on_working_days(
            cal in arb_calendar(),
            start in d("2025-06-01").0..d("2028-01-01").0,
            amount in 0u32..400,
            extend in any::<bool>(),
        ) {
            let start = Date(start);
            let mut p = Period::calendar_days(amount);
            p.extend_past_rest_days = extend;
            let end = cal.deadline(start, &p);
            prop_assert!(end >= start.plus_days(amount as i32));
            if extend {
                prop_assert!(cal.is_working_day(end));
                // The first working day on or after start + amount: every day between is off.
                prop_assert!((start.0 + amount as i32..end.0).all(|x| !cal.is_working_day(Date(x))));
            } else {
                prop_assert_eq!(end, start.plus_days(amount as i32));
            }
        }

        #[test]
        fn working_day_deadlines_have_exactly_n_working_days(
            cal in arb_calendar(),
            start in d("2025-06-01").0..d("2027-06-01").0,
            amount in 1u32..120,
        ) {
            let start = Date(start);
            let end = cal.deadline(start, &Period::working_days(amount));
            prop_assert!(cal.is_working_day(end));
            let counted = (start.0 + 1..=end.0).filter(|&x| cal.is_working_day(Date(x))).count() as u64;
            prop_assert_eq!(counted, u64::from(amount));
            prop_assert_eq!(cal.working_days_between(start, end), u64::from(amount));
        }

        #[test]
        fn month_deadlines_are_never_early(
            start in d("2000-01-01").0..d("2040-01-01").0,
            amount in 0u32..240,
        ) {
            let cal = Calendar::default();
            let start = Date(start);
            let end = cal.deadline(start, &Period::months(amount).without_extension());
            // At least 28 days per month, at most 31.
            prop_assert!(end.0 - start.0 >= 28 * amount as i32);
            prop_assert!(end.0 - start.0 <= 31 * amount as i32);
            let (_, _, sd) = start.year_month_day().unwrap();
            let (_, _, ed) = end.year_month_day().unwrap();
            prop_assert!(ed == sd || (ed < sd && end.plus_days(1).year_month_day().unwrap().2 == 1));
        }
    }
}
