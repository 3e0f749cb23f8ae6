//! Normalizing a text query: its number and string literals replaced by
//! `?`, so queries differing only in values share one plan template
//! ([`super::Template`]), as Vitess's plan cache keys plans by the
//! normalized query.
//!
//! This is a lexer pass, deliberately narrow: it replaces only unsigned
//! integers and decimals that stand alone, and `'…'` strings without an
//! introducer (`_utf8mb4'…'`, `X'…'`, `N'…'` and `"…"` strings stay text:
//! with `ANSI_QUOTES` the latter are identifiers). Everything else (comments,
//! quoted identifiers, hex and exponent numbers) is copied as written. A
//! query containing `?` is not normalized. Values are kept as the client
//! wrote them and spliced back verbatim, so a template built from the
//! normalized text sends the client's literals.

/// The normalized text and the literals taken out of it, in order; `None`
/// if the query has no literal or cannot be normalized.
pub fn normalize(sql: &str) -> Option<(String, Vec<&str>)> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut literals = Vec::new();
    let mut last = 0; // start of the text not yet copied to `out`
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    while i < b.len() {
        match b[i] {
            b'?' => return None,
            q @ (b'\'' | b'"' | b'`') => {
                let start = i;
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && q != b'`' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return None; // unterminated: leave it to the parser
                }
                i += 1;
                let introduced = start > 0 && ident(b[start - 1]);
                if q == b'\'' && !introduced {
                    out.push_str(&sql[last..start]);
                    out.push('?');
                    literals.push(&sql[start..i]);
                    last = i;
                }
                continue;
            }
            b'#' => i = skip_line(b, i),
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|c| c.is_ascii_whitespace()) =>
            {
                i = skip_line(b, i)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let mut end = i;
                let digits = b[start..end].iter().all(u8::is_ascii_digit);
                if digits && b.get(end) == Some(&b'.') {
                    let frac = b[end + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_digit())
                        .count();
                    if frac > 0 && !b.get(end + 1 + frac).is_some_and(|&c| ident(c)) {
                        end += 1 + frac;
                    }
                }
                let after_dot = start > 0 && b[start - 1] == b'.';
                let before_dot = b.get(end) == Some(&b'.');
                if digits && !after_dot && !before_dot {
                    out.push_str(&sql[last..start]);
                    out.push('?');
                    literals.push(&sql[start..end]);
                    last = end;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if literals.is_empty() {
        return None;
    }
    out.push_str(sql.get(last..)?);
    Some((out, literals))
}

fn skip_line(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i] != b'\n' {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(sql: &str) -> Option<(String, Vec<String>)> {
        normalize(sql).map(|(s, l)| (s, l.into_iter().map(str::to_string).collect()))
    }

    #[test]
    fn replaces_standalone_numbers_and_strings() {
        assert_eq!(
            norm("SELECT c FROM sbtest1 WHERE id=5012"),
            Some((
                "SELECT c FROM sbtest1 WHERE id=?".into(),
                vec!["5012".into()]
            ))
        );
        assert_eq!(
            norm("UPDATE t SET a = 'it''s', b = 'x\\'y', c = 1.50 WHERE id = -7 LIMIT 3"),
            Some((
                "UPDATE t SET a = ?, b = ?, c = ? WHERE id = -? LIMIT ?".into(),
                vec![
                    "'it''s'".into(),
                    "'x\\'y'".into(),
                    "1.50".into(),
                    "7".into(),
                    "3".into()
                ]
            ))
        );
    }

    #[test]
    fn leaves_everything_else_as_written() {
        let kept = [
            "SELECT t1.c2, `a 5`, \"7\", _utf8mb4'x', X'ff', N'n', 0x1f, 1e5, 2abc FROM t1",
            "SELECT a FROM t /* 5 */ # 6\n -- 7\n",
            "SELECT a FROM db1.t2",
            "SELECT ?",
            "SELECT 'unterminated",
        ];
        for sql in kept {
            assert_eq!(norm(sql), None, "{sql}");
        }
        assert_eq!(
            norm("SELECT a FROM t1 WHERE b = 2 /* 5 */ AND c = '/*'"),
            Some((
                "SELECT a FROM t1 WHERE b = ? /* 5 */ AND c = ?".into(),
                vec!["2".into(), "'/*'".into()]
            ))
        );
        assert_eq!(
            norm("SELECT 1.5.2, a FROM t WHERE x = 3"),
            Some((
                "SELECT 1.5.2, a FROM t WHERE x = ?".into(),
                vec!["3".into()]
            ))
        );
    }

    /// Every text goes through without a panic, and splicing the literals
    /// back gives the text again.
    #[test]
    fn any_text_round_trips() {
        use rand::rngs::StdRng;
        use rand::{Rng, SeedableRng};
        let alphabet: Vec<char> = "ab1290._$'\"`\\?#-*/ \n=é()".chars().collect();
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..20_000 {
            let len = rng.gen_range(0..24);
            let text: String = (0..len)
                .map(|_| alphabet[rng.gen_range(0..alphabet.len())])
                .collect();
            if let Some((normal, literals)) = normalize(&text) {
                let at = crate::planner::placeholders(&normal);
                assert_eq!(at.len(), literals.len(), "{text:?} -> {normal:?}");
                let mut back = String::new();
                let mut last = 0;
                for (pos, lit) in at.iter().zip(&literals) {
                    back.push_str(&normal[last..*pos]);
                    back.push_str(lit);
                    last = pos + 1;
                }
                back.push_str(&normal[last..]);
                assert_eq!(back, text, "{normal:?} {literals:?}");
            }
        }
    }
}
