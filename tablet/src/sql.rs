//! Small pure helpers for building SQL text safely.

/// A single-quoted MariaDB string literal, escaped the way
/// `mysql_real_escape_string` does (valid unless the server runs with
/// `NO_BACKSLASH_ESCAPES`, which tablets never set).
pub fn quote_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_backslashes() {
        assert_eq!(quote_string("it's"), "'it\\'s'");
        assert_eq!(quote_string("a\\b\0"), "'a\\\\b\\0'");
        assert_eq!(quote_string(""), "''");
    }
}
