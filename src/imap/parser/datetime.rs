//! Dates (SEARCH) and date-times (APPEND), checked to be real calendar values.

use super::lexer::{Cursor, PResult};
use crate::imap::command::{Date, DateTime};
use crate::imap::error::Syntax;

const MONTHS: [&[u8; 3]; 12] = [
    b"JAN", b"FEB", b"MAR", b"APR", b"MAY", b"JUN", b"JUL", b"AUG", b"SEP", b"OCT", b"NOV", b"DEC",
];

fn invalid<T>() -> PResult<T> {
    Err(Syntax::InvalidDate.into())
}

/// Exactly `n` digits.
fn fixed_digits(c: &mut Cursor<'_>, n: usize) -> PResult<u16> {
    let mut value = 0u16;
    for _ in 0..n {
        match c.peek() {
            Some(d @ b'0'..=b'9') => {
                c.eat(d);
                value = value * 10 + u16::from(d - b'0');
            }
            _ => return invalid(),
        }
    }
    Ok(value)
}

fn month(c: &mut Cursor<'_>) -> PResult<u8> {
    for (i, name) in MONTHS.iter().enumerate() {
        if c.eat_keyword(*name) {
            return Ok(i as u8 + 1);
        }
    }
    invalid()
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `-month-yyyy` after the day, and the check that the day exists.
fn month_and_year(c: &mut Cursor<'_>, day: u16) -> PResult<Date> {
    if !c.eat(b'-') {
        return invalid();
    }
    let month = month(c)?;
    if !c.eat(b'-') {
        return invalid();
    }
    let year = fixed_digits(c, 4)?;
    if day == 0 || day > u16::from(days_in_month(year, month)) {
        return invalid();
    }
    Ok(Date {
        year,
        month,
        day: day as u8,
    })
}

/// `date = date-text / DQUOTE date-text DQUOTE`, `date-text = 1*2DIGIT "-" month "-" 4DIGIT`.
pub(super) fn date(c: &mut Cursor<'_>) -> PResult<Date> {
    let quoted = c.eat(b'"');
    let day = match fixed_digits(c, 1)? {
        d if c.peek().is_some_and(|b| b.is_ascii_digit()) => d * 10 + fixed_digits(c, 1)?,
        d => d,
    };
    let date = month_and_year(c, day)?;
    if quoted && !c.eat(b'"') {
        return invalid();
    }
    Ok(date)
}

/// `date-time = DQUOTE date-day-fixed "-" month "-" 4DIGIT SP time SP zone DQUOTE`, where
/// `date-day-fixed = (SP DIGIT) / 2DIGIT`, `time = 2DIGIT ":" 2DIGIT ":" 2DIGIT` and
/// `zone = ("+" / "-") 4DIGIT`.
pub(super) fn date_time(c: &mut Cursor<'_>) -> PResult<DateTime> {
    c.expect(b'"', "date-time")?;
    let day = if c.eat(b' ') {
        fixed_digits(c, 1)?
    } else {
        fixed_digits(c, 2)?
    };
    let date = month_and_year(c, day)?;
    if !c.eat(b' ') {
        return invalid();
    }
    let hour = fixed_digits(c, 2)?;
    let minute = if c.eat(b':') {
        fixed_digits(c, 2)?
    } else {
        return invalid();
    };
    let second = if c.eat(b':') {
        fixed_digits(c, 2)?
    } else {
        return invalid();
    };
    if hour > 23 || minute > 59 || second > 60 || !c.eat(b' ') {
        return invalid();
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return invalid();
    };
    let zone_hours = fixed_digits(c, 2)?;
    let zone_minutes = fixed_digits(c, 2)?;
    if zone_hours > 23 || zone_minutes > 59 || !c.eat(b'"') {
        return invalid();
    }
    Ok(DateTime {
        date,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
        zone_minutes: sign * (zone_hours * 60 + zone_minutes) as i16,
    })
}
