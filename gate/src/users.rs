//! Who may connect: the users file and `mysql_native_password`.
//!
//! The file is either JSON or lines:
//!
//! ```text
//! # comment
//! app:secret
//! reader:
//! ```
//!
//! JSON accepts `{"app": "secret"}` and Vitess's static-auth shape
//! `{"app": [{"Password": "secret"}]}`. Passwords are stored in clear text
//! because `mysql_native_password` needs SHA1(password) to check a scramble;
//! keep the file readable only by the gate's user.

use std::collections::HashMap;

use sha1::{Digest, Sha1};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsersError {
    #[error("users file line {line}: expected user:password")]
    BadLine { line: usize },
    #[error("users file: {0}")]
    BadJson(String),
    #[error("users file: user {0:?} appears twice")]
    Duplicate(String),
    #[error("users file has no users")]
    Empty,
}

/// The accounts the gate accepts.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Users {
    passwords: HashMap<String, String>,
}

impl std::fmt::Debug for Users {
    /// Names only: passwords never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.passwords.keys().collect();
        names.sort();
        f.debug_struct("Users").field("names", &names).finish()
    }
}

impl Users {
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let users = if text.trim_start().starts_with('{') {
            Self::parse_json(text)?
        } else {
            Self::parse_lines(text)?
        };
        if users.passwords.is_empty() {
            return Err(UsersError::Empty);
        }
        Ok(users)
    }

    /// One user with one password (tests, `vitrail up`).
    pub fn single(user: &str, password: &str) -> Users {
        Users {
            passwords: HashMap::from([(user.to_string(), password.to_string())]),
        }
    }

    fn insert(&mut self, user: String, password: String) -> Result<(), UsersError> {
        if self.passwords.contains_key(&user) {
            return Err(UsersError::Duplicate(user));
        }
        self.passwords.insert(user, password);
        Ok(())
    }

    fn parse_lines(text: &str) -> Result<Users, UsersError> {
        let mut users = Users::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, password) = line
                .split_once(':')
                .filter(|(u, _)| !u.is_empty())
                .ok_or(UsersError::BadLine { line: i + 1 })?;
            users.insert(user.to_string(), password.to_string())?;
        }
        Ok(users)
    }

    fn parse_json(text: &str) -> Result<Users, UsersError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| UsersError::BadJson(e.to_string()))?;
        let obj = value
            .as_object()
            .ok_or_else(|| UsersError::BadJson("expected an object".into()))?;
        let mut users = Users::default();
        for (user, v) in obj {
            let password = match v {
                serde_json::Value::String(p) => p.clone(),
                serde_json::Value::Array(entries) => entries
                    .first()
                    .and_then(|e| e.get("Password"))
                    .and_then(|p| p.as_str())
                    .ok_or_else(|| {
                        UsersError::BadJson(format!(
                            "user {user:?}: expected [{{\"Password\": …}}]"
                        ))
                    })?
                    .to_string(),
                _ => {
                    return Err(UsersError::BadJson(format!(
                        "user {user:?}: expected a password string"
                    )))
                }
            };
            users.insert(user.clone(), password)?;
        }
        Ok(users)
    }

    /// Checks a `mysql_native_password` response to `salt`.
    pub fn check_native(&self, user: &str, salt: &[u8], response: &[u8]) -> bool {
        match self.passwords.get(user) {
            Some(password) => native_password_matches(password, salt, response),
            None => false,
        }
    }
}

/// `response == SHA1(pw) XOR SHA1(salt ++ SHA1(SHA1(pw)))`; an empty
/// password is answered with an empty response.
pub fn native_password_matches(password: &str, salt: &[u8], response: &[u8]) -> bool {
    if password.is_empty() {
        return response.is_empty();
    }
    scramble(password, salt).as_slice() == response
}

/// What a client sends for `password` and `salt`.
pub fn scramble(password: &str, salt: &[u8]) -> [u8; 20] {
    let stage1: [u8; 20] = Sha1::digest(password.as_bytes()).into();
    let stage2: [u8; 20] = Sha1::digest(stage1).into();
    let mut h = Sha1::new();
    h.update(salt);
    h.update(stage2);
    let mix: [u8; 20] = h.finalize().into();
    let mut out = [0u8; 20];
    for i in 0..20 {
        out[i] = stage1[i] ^ mix[i];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json() {
        let u = Users::parse("# c\napp:s3cret:x\n\nro:\n").unwrap();
        assert_eq!(u.passwords["app"], "s3cret:x");
        assert_eq!(u.passwords["ro"], "");
        let j = Users::parse(r#"{"a": "x", "b": [{"Password": "y"}]}"#).unwrap();
        assert_eq!(
            (j.passwords["a"].as_str(), j.passwords["b"].as_str()),
            ("x", "y")
        );
        assert_eq!(
            Users::parse("nocolon"),
            Err(UsersError::BadLine { line: 1 })
        );
        assert_eq!(
            Users::parse("a:1\na:2"),
            Err(UsersError::Duplicate("a".into()))
        );
        assert_eq!(Users::parse("\n"), Err(UsersError::Empty));
    }

    #[test]
    fn native_password() {
        let u = Users::single("app", "pw");
        let salt = b"01234567890123456789";
        assert!(u.check_native("app", salt, &scramble("pw", salt)));
        assert!(!u.check_native("app", salt, &scramble("pW", salt)));
        assert!(!u.check_native("other", salt, &scramble("pw", salt)));
        assert!(!u.check_native("app", salt, b""));
        // Known vector: MySQL's scramble of "password" is stable for a salt.
        let a = scramble("password", salt);
        assert_eq!(a, scramble("password", salt));
        assert_ne!(a, scramble("password", b"x1234567890123456789"));
    }
}
