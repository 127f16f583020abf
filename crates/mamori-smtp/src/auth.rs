//! SASL messages for AUTH PLAIN (RFC 4616) and AUTH LOGIN, in base64 as SMTP carries them
//! (RFC 4954).
//!
//! The server decodes what the client sends; the client encodes its credentials. Input is
//! untrusted base64 from the network, so decoding is bounded by the line limit the caller
//! already applied and returns an error rather than guessing.
//!
//! Not here: the challenge/response exchange on the connection (the session does that) and
//! checking the password (the [`crate::Handler`] does that).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// Why a SASL response could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SaslError {
    /// Not base64, or not UTF-8 after decoding.
    Encoding,
    /// A PLAIN message without two NUL separators, an empty user name, or an authorization
    /// identity different from the user (acting as someone else is not supported).
    Malformed,
}

/// A user name and password taken from a SASL exchange.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the password, even in debug logs.
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Decodes one base64 SASL response to text. `=` is the empty response (RFC 4954 section 4).
pub(crate) fn decode_text(response: &str) -> Result<String, SaslError> {
    let response = response.trim();
    if response == "=" {
        return Ok(String::new());
    }
    let bytes = STANDARD.decode(response).map_err(|_| SaslError::Encoding)?;
    String::from_utf8(bytes).map_err(|_| SaslError::Encoding)
}

/// Decodes a PLAIN message `authzid NUL authcid NUL password`.
pub(crate) fn decode_plain(response: &str) -> Result<Credentials, SaslError> {
    let text = decode_text(response)?;
    let mut parts = text.splitn(3, '\0');
    let (Some(authzid), Some(user), Some(password)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed);
    };
    if user.is_empty() || (!authzid.is_empty() && authzid != user) {
        return Err(SaslError::Malformed);
    }
    Ok(Credentials {
        user: user.to_string(),
        password: password.to_string(),
    })
}

/// Encodes a PLAIN message with an empty authorization identity.
pub(crate) fn encode_plain(user: &str, password: &str) -> String {
    STANDARD.encode(format!("\0{user}\0{password}"))
}

/// Base64 of a text, for LOGIN's challenges.
pub(crate) fn encode_text(text: &str) -> String {
    STANDARD.encode(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_round_trip() {
        let encoded = encode_plain("tanaka@example.jp", "パスワード");
        assert_eq!(
            decode_plain(&encoded),
            Ok(Credentials {
                user: "tanaka@example.jp".into(),
                password: "パスワード".into()
            })
        );
    }

    #[test]
    fn plain_accepts_matching_authzid_and_refuses_others() {
        let same = STANDARD.encode("u\0u\0p");
        assert!(decode_plain(&same).is_ok());
        let other = STANDARD.encode("admin\0u\0p");
        assert_eq!(decode_plain(&other), Err(SaslError::Malformed));
        let short = STANDARD.encode("\0u");
        assert_eq!(decode_plain(&short), Err(SaslError::Malformed));
        let no_user = STANDARD.encode("\0\0p");
        assert_eq!(decode_plain(&no_user), Err(SaslError::Malformed));
    }

    #[test]
    fn bad_base64_and_bad_utf8_are_encoding_errors() {
        assert_eq!(decode_plain("***"), Err(SaslError::Encoding));
        assert_eq!(
            decode_text(&STANDARD.encode([0xff, 0xfe])),
            Err(SaslError::Encoding)
        );
        assert_eq!(decode_text("="), Ok(String::new()));
        assert_eq!(decode_text("VXNlcm5hbWU6"), Ok("Username:".into()));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let credentials = Credentials {
            user: "u".into(),
            password: "secret".into(),
        };
        assert!(!format!("{credentials:?}").contains("secret"));
    }
}
