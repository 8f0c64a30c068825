//! Authenticating deliveries by GitLab's secret token.
//!
//! GitLab sends the secret configured on the hook, verbatim, in `X-Gitlab-Token`. Several
//! tokens may be valid at once so a secret can be rotated hook by hook without a window in
//! which deliveries fail. Comparison hashes both sides and compares the digests in constant
//! time, so neither the token's content nor its length leaks through response timing.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The set of accepted secret tokens, kept only as digests.
#[derive(Clone)]
pub struct TokenVerifier {
    /// SHA-256 of each accepted token; the tokens themselves are dropped after start.
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenVerifier({} tokens)", self.digests.len())
    }
}

/// The configured tokens cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenConfigError {
    #[error("no GitLab secret token configured: set HOOKLINE_GITLAB_TOKEN (or HOOKLINE_GITLAB_TOKEN_FILE) to the secret token entered in GitLab's webhook settings")]
    None,
    #[error("a configured GitLab secret token is empty: remove the stray comma or blank value from HOOKLINE_GITLAB_TOKEN")]
    Empty,
    #[error("cannot read the GitLab token file {path}: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a delivery was not authenticated; the response says which, never what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing X-Gitlab-Token header: set the secret token in the GitLab webhook settings")]
    MissingToken,
    #[error("X-Gitlab-Token does not match any configured secret token")]
    WrongToken,
}

impl AuthFailure {
    /// The metrics label of the failure.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::WrongToken => "wrong_token",
        }
    }
}

impl TokenVerifier {
    /// Accepts the given tokens; at least one, none empty.
    pub fn new<I, S>(tokens: I) -> Result<Self, TokenConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests = Vec::new();
        for token in tokens {
            let token = token.as_ref().trim();
            if token.is_empty() {
                return Err(TokenConfigError::Empty);
            }
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
        if digests.is_empty() {
            return Err(TokenConfigError::None);
        }
        Ok(Self { digests })
    }

    /// Accepts the tokens given directly plus those in `file`, one per line (blank lines skipped).
    pub fn from_sources(direct: &[String], file: Option<&Path>) -> Result<Self, TokenConfigError> {
        let mut tokens: Vec<String> = direct.to_vec();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| TokenConfigError::File {
                path: path.display().to_string(),
                source,
            })?;
            tokens.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned),
            );
        }
        Self::new(tokens)
    }

    /// Checks the `X-Gitlab-Token` value of a delivery against every accepted token.
    pub fn verify(&self, presented: Option<&[u8]>) -> Result<(), AuthFailure> {
        let presented = presented.ok_or(AuthFailure::MissingToken)?;
        let digest: [u8; 32] = Sha256::digest(presented).into();
        // Every digest is compared, so the time taken does not reveal which token matched.
        let matched = self
            .digests
            .iter()
            .fold(subtle::Choice::from(0), |found, accepted| {
                found | accepted.ct_eq(&digest)
            });
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthFailure::WrongToken)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_any_configured_token_and_nothing_else() {
        let verifier = TokenVerifier::new(["old-secret", "new-secret"]).unwrap();
        assert_eq!(verifier.verify(Some(b"old-secret")), Ok(()));
        assert_eq!(verifier.verify(Some(b"new-secret")), Ok(()));
        assert_eq!(
            verifier.verify(Some(b"new-secre")),
            Err(AuthFailure::WrongToken)
        );
        assert_eq!(verifier.verify(Some(b"")), Err(AuthFailure::WrongToken));
        assert_eq!(verifier.verify(None), Err(AuthFailure::MissingToken));
    }

    #[test]
    fn refuses_to_start_without_a_usable_token() {
        assert!(matches!(
            TokenVerifier::new(Vec::<String>::new()),
            Err(TokenConfigError::None)
        ));
        assert!(matches!(
            TokenVerifier::new(["a", " "]),
            Err(TokenConfigError::Empty)
        ));
    }

    #[test]
    fn reads_tokens_from_a_file() {
        let path = std::env::temp_dir().join(format!("hookline-tokens-{}", std::process::id()));
        std::fs::write(&path, "file-secret\n\n").unwrap();
        let verifier = TokenVerifier::from_sources(&[], Some(&path)).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(verifier.verify(Some(b"file-secret")), Ok(()));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let verifier = TokenVerifier::new(["s3cret"]).unwrap();
        assert_eq!(format!("{verifier:?}"), "TokenVerifier(1 tokens)");
    }
}
