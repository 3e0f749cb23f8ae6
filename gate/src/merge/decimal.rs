//! Exact decimals as MySQL sends them (`-12.340`): a mantissa and a scale,
//! enough for partial SUMs and AVG's division. 38 significant digits
//! (i128); beyond that a merge reports an error rather than rounding.

use std::cmp::Ordering;

/// `mantissa × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub mantissa: i128,
    pub scale: u32,
}

const MAX_SCALE: u32 = 30;

impl Decimal {
    pub fn from_int(i: i128) -> Decimal {
        Decimal {
            mantissa: i,
            scale: 0,
        }
    }

    /// Parses `[-+]digits[.digits]` (also exponent-free text only).
    pub fn parse(s: &str) -> Option<Decimal> {
        let s = s.trim();
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let scale = u32::try_from(frac.len()).ok()?;
        if scale > MAX_SCALE {
            return None;
        }
        let mut m: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        Some(Decimal {
            mantissa: if neg { -m } else { m },
            scale,
        })
    }

    fn rescale(self, scale: u32) -> Option<Decimal> {
        let factor = 10i128.checked_pow(scale.checked_sub(self.scale)?)?;
        Some(Decimal {
            mantissa: self.mantissa.checked_mul(factor)?,
            scale,
        })
    }

    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescale(scale)?, other.rescale(scale)?);
        Some(Decimal {
            mantissa: a.mantissa.checked_add(b.mantissa)?,
            scale,
        })
    }

    /// `self / n` with `extra` more decimal places, rounded half away from
    /// zero (MySQL's AVG adds 4).
    pub fn div_int(self, n: i128, extra: u32) -> Option<Decimal> {
        if n <= 0 {
            return None;
        }
        let scale = self.scale.checked_add(extra)?;
        let num = self.rescale(scale)?.mantissa;
        let (q, r) = (num.checked_div(n)?, num.checked_rem(n)?);
        let round = if r.checked_mul(2)?.checked_abs()? >= n {
            if num < 0 {
                -1
            } else {
                1
            }
        } else {
            0
        };
        Some(Decimal {
            mantissa: q.checked_add(round)?,
            scale,
        })
    }

    pub fn to_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(self.scale as i32)
    }

    pub fn cmp(self, other: Decimal) -> Ordering {
        let scale = self.scale.max(other.scale);
        match (self.rescale(scale), other.rescale(scale)) {
            (Some(a), Some(b)) => a.mantissa.cmp(&b.mantissa),
            _ => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl std::fmt::Display for Decimal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::parse(s).unwrap()
    }

    #[test]
    fn parse_print_add() {
        assert_eq!(d("-12.340").to_string(), "-12.340");
        assert_eq!(d("0.05").to_string(), "0.05");
        assert_eq!(d("1.5").checked_add(d("2.25")).unwrap().to_string(), "3.75");
        assert_eq!(
            d("-0.5").checked_add(d("0.25")).unwrap().to_string(),
            "-0.25"
        );
        assert!(Decimal::parse("1e5").is_none());
        assert!(Decimal::parse("").is_none());
        assert!(Decimal::parse("abc").is_none());
    }

    #[test]
    fn avg_division_rounds_half_away_from_zero() {
        assert_eq!(d("5").div_int(2, 4).unwrap().to_string(), "2.5000");
        assert_eq!(d("10").div_int(3, 4).unwrap().to_string(), "3.3333");
        assert_eq!(d("20").div_int(3, 4).unwrap().to_string(), "6.6667");
        assert_eq!(d("-20").div_int(3, 4).unwrap().to_string(), "-6.6667");
        assert_eq!(d("1.50").div_int(4, 4).unwrap().to_string(), "0.375000");
        assert!(d("1").div_int(0, 4).is_none());
        assert!(d("1").div_int(-1, 4).is_none());
    }

    #[test]
    fn compares_across_scales() {
        assert_eq!(d("1.50").cmp(d("1.5")), Ordering::Equal);
        assert_eq!(d("-2").cmp(d("1.5")), Ordering::Less);
        assert_eq!(d("10").cmp(d("9.99")), Ordering::Greater);
    }
}
