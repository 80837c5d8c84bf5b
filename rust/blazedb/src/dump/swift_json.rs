//! JSON text exactly as upstream's encoder writes it on Linux (swift-foundation
//! `JSONEncoder` with `.sortedKeys` and `.iso8601` dates, no pretty printing).
//!
//! * Objects: keys sorted by their UTF-8 bytes (`a.key.utf8.lexicographicallyPrecedes`),
//!   no whitespace.
//! * Strings: raw UTF-8; `"` `\` and `/` are escaped (`\"`, `\\`, `\/`); `\b \f \n \r \t`
//!   take their short escapes; other bytes below 0x20 become `\u00xx` in lowercase hex.
//! * Doubles: Swift's `description` (shortest round-trip digits, SwiftDtoa's layout) with a
//!   trailing `.0` removed, so `1.0` is written `1` and `-0.0` is written `-0`.
//! * Dates: `yyyy-MM-ddTHH:mm:ssZ` in UTC, whole seconds (the fraction is dropped, so the
//!   instant is floored).

use crate::value::Timestamp;

/// Appends `s` as a JSON string literal, escaped as swift-foundation escapes it.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'/' => Some("\\/"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[run..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Swift's `Double.description` for a finite value, or `None` for NaN and infinities
/// (which upstream's encoder refuses to write).
pub(crate) fn double_description(d: f64) -> Option<String> {
    if !d.is_finite() {
        return None;
    }
    let neg = d.is_sign_negative();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let a = d.abs();
    if a == 0.0 {
        out.push_str("0.0");
        return Some(out);
    }
    // Rust's shortest round-trip digits, as SwiftDtoa chooses them (shortest, then closest).
    let sci = format!("{a:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let n = digits.len() as i32;
    // SwiftDtoa: exponential when the decimal exponent is below -4, or for binary64 when the
    // value exceeds 2^53 (binaryExponent > 54, or == 54 and not exactly 2^53).
    let force_exponential = a > 9_007_199_254_740_992.0;
    if exp < -4 || force_exponential {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e > 99 {
            out.push_str(&(e / 100).to_string());
        }
        out.push_str(&format!("{:02}", e % 100));
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else if exp + 1 < n {
        let split = (exp + 1) as usize;
        out.push_str(&digits[..split]);
        out.push('.');
        out.push_str(&digits[split..]);
    } else {
        out.push_str(&digits);
        for _ in 0..(exp + 1 - n) {
            out.push('0');
        }
        out.push_str(".0");
    }
    Some(out)
}

/// A double as a JSON number the way upstream writes it (`description` minus a trailing
/// `.0`), or `None` for NaN and infinities.
pub(crate) fn number(d: f64) -> Option<String> {
    let mut s = double_description(d)?;
    if s.ends_with(".0") {
        s.truncate(s.len() - 2);
    }
    Some(s)
}

/// `yyyy-MM-ddTHH:mm:ssZ` (UTC, floored to the second), or `None` outside years 0000–9999.
pub(crate) fn iso8601_seconds(t: Timestamp) -> Option<String> {
    Timestamp::new(t.unix_seconds(), 0).rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_like_swift() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (0.1, "0.1"),
            (257.5, "257.5"),
            (-2.5e300, "-2.5e+300"),
            (1e-300, "1e-300"),
            (5e-324, "5e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (3.2400185309003776e17, "3.2400185309003776e+17"),
            (39283645743104.0, "39283645743104"),
            (9007199254740992.0, "9007199254740992"),
            (9007199254740994.0, "9.007199254740994e+15"),
            (1e16, "1e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.789, "123456.789"),
            (std::f64::consts::PI, "3.141592653589793"),
            (1.0314931869506836, "1.0314931869506836"),
            (5.144850496186994e-39, "5.144850496186994e-39"),
        ];
        for (d, want) in cases {
            assert_eq!(number(*d).as_deref(), Some(*want), "{d:e}");
        }
        assert_eq!(number(f64::NAN), None);
        assert_eq!(number(f64::INFINITY), None);
    }

    #[test]
    fn strings_like_swift() {
        let mut s = String::new();
        write_string(&mut s, "a/b\"c\\\t\n\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é");
        assert_eq!(s, "\"a\\/b\\\"c\\\\\\t\\n\\r\\b\\f\\u0001\\u001f\u{7f}é\"");
    }
}
