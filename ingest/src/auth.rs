//! Authenticating deliveries: GitLab's secret token and Standard Webhooks signatures.
//!
//! GitLab sends the secret configured on the hook, verbatim, in `X-Gitlab-Token`. Several
//! tokens may be valid at once so a secret can be rotated hook by hook without a window in
//! which deliveries fail. Comparison hashes both sides and compares the digests in constant
//! time, so neither the token's content nor its length leaks through response timing.
//!
//! GitLab 19 can also sign deliveries with a signing token ([`SignatureVerifier`], the
//! [Standard Webhooks](https://www.standardwebhooks.com/) scheme). [`Credentials`] is what one
//! endpoint requires (a token, a signature, or both) and [`Authenticator`] picks the
//! credentials of the source a delivery was posted to.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::http::HeaderMap;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookline_runtime::secret::Secret;
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

/// The configured credentials cannot be used. Messages name the setting, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("no credentials configured: set HOOKLINE_GITLAB_TOKEN (the secret token entered in GitLab's webhook settings) or HOOKLINE_SIGNING_SECRET (its signing token), or their *_FILE variants")]
    None,
    #[error("an empty secret is configured in {setting}: remove the stray comma or blank value")]
    Empty { setting: &'static str },
    #[error("{setting} file {path} holds no secret")]
    EmptyFile { setting: &'static str, path: String },
    #[error("cannot read {setting} file {path}: {source}")]
    File {
        setting: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("entry {position} of {setting} is not a signing secret: expected whsec_ followed by base64, as GitLab shows the signing token ({reason})")]
    SigningSecret {
        setting: &'static str,
        position: usize,
        reason: &'static str,
    },
    #[error("entry {position} of {setting} is not `SOURCE:SECRET`")]
    SourceEntry {
        setting: &'static str,
        position: usize,
    },
    #[error("{setting} names source {label:?}, which is not listed in HOOKLINE_SOURCES")]
    UnknownSource {
        setting: &'static str,
        label: String,
    },
}

/// Why a delivery was not authenticated; the response says which, never what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("missing X-Gitlab-Token header: set the secret token in the GitLab webhook settings")]
    MissingToken,
    #[error("X-Gitlab-Token does not match any configured secret token")]
    WrongToken,
    #[error("missing webhook-id, webhook-timestamp or webhook-signature header: this endpoint requires signed deliveries; set the signing token in the GitLab webhook settings")]
    MissingSignature,
    #[error("webhook-signature does not match the body with any configured signing secret")]
    BadSignature,
    #[error("webhook-timestamp is too far from the current time: the delivery is stale or replayed, or a clock is wrong")]
    StaleTimestamp,
}

impl AuthFailure {
    /// The metrics label of the failure.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::MissingToken => "missing_token",
            AuthFailure::WrongToken => "wrong_token",
            AuthFailure::MissingSignature => "missing_signature",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::StaleTimestamp => "stale_timestamp",
        }
    }
}

impl TokenVerifier {
    /// Accepts the given tokens; at least one, none empty. `setting` names them in errors.
    pub fn new<I, S>(setting: &'static str, tokens: I) -> Result<Self, CredentialsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut digests = Vec::new();
        for token in tokens {
            let token = token.as_ref().trim();
            if token.is_empty() {
                return Err(CredentialsError::Empty { setting });
            }
            digests.push(Sha256::digest(token.as_bytes()).into());
        }
        if digests.is_empty() {
            return Err(CredentialsError::None);
        }
        Ok(Self { digests })
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

/// The header carrying GitLab's secret token, verbatim.
pub const TOKEN_HEADER: &str = "x-gitlab-token";

/// Standard Webhooks (GitLab 19 signing tokens) request headers.
pub mod signature_header {
    /// Unique per event and hook; equals GitLab's `Idempotency-Key`.
    pub const ID: &str = "webhook-id";
    /// Unix seconds when GitLab signed the delivery.
    pub const TIMESTAMP: &str = "webhook-timestamp";
    /// Space-separated `v1,<base64 HMAC-SHA256>` signatures; any valid one passes.
    pub const SIGNATURE: &str = "webhook-signature";
}

/// The prefix GitLab (and every Standard Webhooks sender) shows before a signing secret.
const SIGNING_SECRET_PREFIX: &str = "whsec_";

/// Verifies Standard Webhooks signatures: `v1,` + base64 of HMAC-SHA256, keyed with the
/// decoded signing secret, over `{webhook-id}.{webhook-timestamp}.{body}`.
#[derive(Clone)]
pub struct SignatureVerifier {
    /// The decoded keys of every accepted signing secret (several during a rotation).
    keys: Vec<Vec<u8>>,
    /// How far `webhook-timestamp` may be from the current time, either way.
    tolerance: Duration,
}

impl std::fmt::Debug for SignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SignatureVerifier({} secrets, tolerance {:?})",
            self.keys.len(),
            self.tolerance
        )
    }
}

impl SignatureVerifier {
    /// Accepts signatures by any of `secrets` (each `whsec_<base64>`); at least one.
    pub fn new<I, S>(
        setting: &'static str,
        secrets: I,
        tolerance: Duration,
    ) -> Result<Self, CredentialsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            let invalid = |reason| CredentialsError::SigningSecret {
                setting,
                position: index + 1,
                reason,
            };
            let secret = secret.as_ref().trim();
            if secret.is_empty() {
                return Err(CredentialsError::Empty { setting });
            }
            let encoded = secret
                .strip_prefix(SIGNING_SECRET_PREFIX)
                .ok_or_else(|| invalid("no whsec_ prefix"))?;
            let key = BASE64
                .decode(encoded)
                .map_err(|_| invalid("not valid base64"))?;
            if key.is_empty() {
                return Err(invalid("empty key"));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(CredentialsError::None);
        }
        Ok(Self { keys, tolerance })
    }

    /// Checks the signature headers that can be checked before the body is read.
    fn check_headers<'h>(
        &self,
        headers: &'h HeaderMap,
        now_unix: i64,
    ) -> Result<PendingSignature<'_, 'h>, AuthFailure> {
        let header = |name| {
            headers
                .get(name)
                .map(|v| v.as_bytes())
                .filter(|v| !v.is_empty())
                .ok_or(AuthFailure::MissingSignature)
        };
        let id = header(signature_header::ID)?;
        let timestamp = header(signature_header::TIMESTAMP)?;
        let signatures = header(signature_header::SIGNATURE)?;
        let signed_at: i64 = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(AuthFailure::BadSignature)?;
        if now_unix.abs_diff(signed_at) > self.tolerance.as_secs() {
            return Err(AuthFailure::StaleTimestamp);
        }
        Ok(PendingSignature {
            verifier: self,
            id,
            timestamp,
            signatures,
        })
    }

    /// HMAC-SHA256 of `{id}.{timestamp}.{body}` under `key`.
    fn tag(key: &[u8], id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
        for part in [id, b".", timestamp, b".", body] {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Signature headers that passed the checks possible without the body.
pub struct PendingSignature<'v, 'h> {
    /// The secrets to check the signature with.
    verifier: &'v SignatureVerifier,
    /// The `webhook-id` header.
    id: &'h [u8],
    /// The `webhook-timestamp` header.
    timestamp: &'h [u8],
    /// The `webhook-signature` header (one or more signatures).
    signatures: &'h [u8],
}

impl PendingSignature<'_, '_> {
    /// Whether any `v1` signature in the header is valid for `body` under any accepted key.
    pub fn verify(&self, body: &[u8]) -> Result<(), AuthFailure> {
        let presented: Vec<Vec<u8>> = self
            .signatures
            .split(u8::is_ascii_whitespace)
            .filter_map(|candidate| candidate.strip_prefix(b"v1,"))
            .filter_map(|encoded| BASE64.decode(encoded).ok())
            .collect();
        // Every key and every candidate is compared, so timing reveals nothing about a match.
        let mut matched = subtle::Choice::from(0);
        for key in &self.verifier.keys {
            let expected = SignatureVerifier::tag(key, self.id, self.timestamp, body);
            for candidate in &presented {
                matched |= expected.as_slice().ct_eq(candidate.as_slice());
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthFailure::BadSignature)
        }
    }
}

/// What one endpoint requires. When both a token and signing secrets are configured, a
/// delivery needs both: configuring a credential means it is checked.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The tokens accepted in `X-Gitlab-Token`, when a token is required.
    token: Option<TokenVerifier>,
    /// The signing secrets, when a signature is required.
    signature: Option<SignatureVerifier>,
}

impl Credentials {
    /// At least one of the two must be present.
    pub fn new(
        token: Option<TokenVerifier>,
        signature: Option<SignatureVerifier>,
    ) -> Result<Self, CredentialsError> {
        if token.is_none() && signature.is_none() {
            return Err(CredentialsError::None);
        }
        Ok(Self { token, signature })
    }

    /// Checks everything that can be checked before the body is read: the token, the presence
    /// of the signature headers and the freshness of the timestamp. Returns the signature
    /// still to verify against the body, if this endpoint requires one.
    pub fn check_headers<'h>(
        &self,
        headers: &'h HeaderMap,
        now_unix: i64,
    ) -> Result<Option<PendingSignature<'_, 'h>>, AuthFailure> {
        if let Some(token) = &self.token {
            token.verify(headers.get(TOKEN_HEADER).map(|v| v.as_bytes()))?;
        }
        self.signature
            .as_ref()
            .map(|signature| signature.check_headers(headers, now_unix))
            .transpose()
    }
}

/// The credentials of every endpoint: `/hooks/{source}` uses the source's own credentials
/// when it has any, otherwise (like `/hooks`) the global ones.
#[derive(Debug, Clone)]
pub struct Authenticator {
    /// For `/hooks` and sources without credentials of their own.
    global: Credentials,
    /// For sources with credentials of their own, by label.
    per_source: BTreeMap<String, Credentials>,
}

impl Authenticator {
    pub fn new(global: Credentials, per_source: BTreeMap<String, Credentials>) -> Self {
        Self { global, per_source }
    }

    pub fn for_source(&self, source: Option<&str>) -> &Credentials {
        source
            .and_then(|label| self.per_source.get(label))
            .unwrap_or(&self.global)
    }
}

/// The non-blank lines of a secrets file, trimmed.
pub fn read_secret_lines(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<Secret>, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::File {
        setting,
        path: path.display().to_string(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(Secret::new)
        .collect())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SETTING: &str = "HOOKLINE_TEST";
    /// `whsec_` + base64 of the key `hookline-test-signing-key-32byte`.
    const SECRET: &str = "whsec_aG9va2xpbmUtdGVzdC1zaWduaW5nLWtleS0zMmJ5dGU=";
    /// Computed independently with Python:
    /// `base64.b64encode(hmac.new(b"hookline-test-signing-key-32byte",
    ///  b'msg_2Lh9KXfXrAbP.1732550400.{"object_kind":"push"}', hashlib.sha256).digest())`.
    const SIGNATURE: &str = "bp8RL4NsuZh2Tq7ypn2kQuh5Vm6nHgIsjesJYhbDtS0=";
    const ID: &str = "msg_2Lh9KXfXrAbP";
    const SIGNED_AT: i64 = 1_732_550_400;
    const BODY: &[u8] = br#"{"object_kind":"push"}"#;

    fn signature_verifier(secrets: &[&str]) -> SignatureVerifier {
        SignatureVerifier::new(SETTING, secrets, Duration::from_secs(300)).unwrap()
    }

    fn signed_headers(id: &str, timestamp: &str, signature: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (signature_header::ID, id),
            (signature_header::TIMESTAMP, timestamp),
            (signature_header::SIGNATURE, signature),
        ] {
            headers.insert(name, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn verify(
        verifier: &SignatureVerifier,
        headers: &HeaderMap,
        now: i64,
    ) -> Result<(), AuthFailure> {
        verifier.check_headers(headers, now)?.verify(BODY)
    }

    #[test]
    fn accepts_any_configured_token_and_nothing_else() {
        let verifier = TokenVerifier::new(SETTING, ["old-secret", "new-secret"]).unwrap();
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
            TokenVerifier::new(SETTING, Vec::<String>::new()),
            Err(CredentialsError::None)
        ));
        assert!(matches!(
            TokenVerifier::new(SETTING, ["a", " "]),
            Err(CredentialsError::Empty { .. })
        ));
    }

    #[test]
    fn reads_secrets_from_a_file() {
        let path = std::env::temp_dir().join(format!("hookline-tokens-{}", std::process::id()));
        std::fs::write(&path, " file-secret \n\nsecond\n").unwrap();
        let lines = read_secret_lines(SETTING, &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let lines: Vec<&str> = lines.iter().map(Secret::expose).collect();
        assert_eq!(lines, ["file-secret", "second"]);
        let missing = read_secret_lines(SETTING, &path).unwrap_err().to_string();
        assert!(missing.contains(SETTING), "{missing}");
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let verifier = TokenVerifier::new(SETTING, ["s3cret"]).unwrap();
        assert_eq!(format!("{verifier:?}"), "TokenVerifier(1 tokens)");
        let credentials =
            Credentials::new(Some(verifier), Some(signature_verifier(&[SECRET]))).unwrap();
        let shown = format!("{:?}", Authenticator::new(credentials, BTreeMap::new()));
        assert!(
            !shown.contains("s3cret") && !shown.contains("aG9v"),
            "{shown}"
        );
    }

    #[test]
    fn a_signature_computed_elsewhere_verifies() {
        let verifier = signature_verifier(&[SECRET]);
        let headers = signed_headers(ID, &SIGNED_AT.to_string(), &format!("v1,{SIGNATURE}"));
        assert_eq!(verify(&verifier, &headers, SIGNED_AT), Ok(()));
        // The body is signed: one changed byte fails.
        let pending = verifier.check_headers(&headers, SIGNED_AT).unwrap();
        assert_eq!(
            pending.verify(br#"{"object_kind":"Push"}"#),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn the_standard_webhooks_reference_vector_verifies() {
        // From the Standard Webhooks specification's examples, recomputed with Python's hmac.
        let verifier = signature_verifier(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
        let headers = signed_headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "1614265330",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        );
        let pending = verifier.check_headers(&headers, 1_614_265_330).unwrap();
        assert_eq!(pending.verify(br#"{"test": 2432232314}"#), Ok(()));
    }

    #[test]
    fn any_valid_signature_among_several_passes_and_any_secret_during_a_rotation() {
        let rotated = signature_verifier(&["whsec_b3RoZXIta2V5", SECRET]);
        let several = format!("v1a,ignored v1,AAAA v1,{SIGNATURE}");
        let headers = signed_headers(ID, &SIGNED_AT.to_string(), &several);
        assert_eq!(verify(&rotated, &headers, SIGNED_AT), Ok(()));
        let other_key_only = signature_verifier(&["whsec_b3RoZXIta2V5"]);
        assert_eq!(
            verify(&other_key_only, &headers, SIGNED_AT),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn signatures_are_refused_for_each_reason() {
        let verifier = signature_verifier(&[SECRET]);
        let good = format!("v1,{SIGNATURE}");
        let at = SIGNED_AT.to_string();
        let cases = [
            (
                signed_headers(ID, &at, ""),
                SIGNED_AT,
                AuthFailure::MissingSignature,
            ),
            (HeaderMap::new(), SIGNED_AT, AuthFailure::MissingSignature),
            (
                signed_headers(ID, &at, "v1,not base64!"),
                SIGNED_AT,
                AuthFailure::BadSignature,
            ),
            (
                signed_headers(ID, &at, SIGNATURE),
                SIGNED_AT,
                AuthFailure::BadSignature,
            ),
            (
                signed_headers("msg_other", &at, &good),
                SIGNED_AT,
                AuthFailure::BadSignature,
            ),
            (
                signed_headers(ID, "yesterday", &good),
                SIGNED_AT,
                AuthFailure::BadSignature,
            ),
            (
                signed_headers(ID, &at, &good),
                SIGNED_AT + 301,
                AuthFailure::StaleTimestamp,
            ),
            (
                signed_headers(ID, &at, &good),
                SIGNED_AT - 301,
                AuthFailure::StaleTimestamp,
            ),
        ];
        for (headers, now, expected) in cases {
            assert_eq!(
                verify(&verifier, &headers, now),
                Err(expected),
                "{headers:?}"
            );
        }
        // At the edge of the tolerance, either way, it still passes.
        let headers = signed_headers(ID, &at, &good);
        assert_eq!(verify(&verifier, &headers, SIGNED_AT + 300), Ok(()));
        assert_eq!(verify(&verifier, &headers, SIGNED_AT - 300), Ok(()));
    }

    #[test]
    fn signing_secrets_must_be_whsec_base64() {
        let error = |secret: &str| {
            SignatureVerifier::new(SETTING, [secret], Duration::from_secs(1))
                .unwrap_err()
                .to_string()
        };
        assert!(error("aG9va2xpbmU=").contains("no whsec_ prefix"));
        assert!(error("whsec_***").contains("not valid base64"));
        assert!(error("whsec_").contains("empty key"));
        // The message names the setting and position, never the value.
        let message = error("whsec_s3cret!");
        assert!(message.contains("entry 1 of HOOKLINE_TEST"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn both_credentials_are_required_when_both_are_configured() {
        let token = TokenVerifier::new(SETTING, ["tok"]).unwrap();
        let both = Credentials::new(Some(token), Some(signature_verifier(&[SECRET]))).unwrap();
        let mut headers = signed_headers(ID, &SIGNED_AT.to_string(), &format!("v1,{SIGNATURE}"));
        assert_eq!(
            both.check_headers(&headers, SIGNED_AT).err(),
            Some(AuthFailure::MissingToken)
        );
        headers.insert("x-gitlab-token", HeaderValue::from_static("tok"));
        let pending = both.check_headers(&headers, SIGNED_AT).unwrap().unwrap();
        assert_eq!(pending.verify(BODY), Ok(()));

        let signing_only = Credentials::new(None, Some(signature_verifier(&[SECRET]))).unwrap();
        headers.remove("x-gitlab-token");
        assert!(signing_only.check_headers(&headers, SIGNED_AT).is_ok());
        assert!(matches!(
            Credentials::new(None, None),
            Err(CredentialsError::None)
        ));
    }

    #[test]
    fn a_source_with_its_own_credentials_accepts_only_those() {
        let credentials = |token: &str| {
            Credentials::new(Some(TokenVerifier::new(SETTING, [token]).unwrap()), None).unwrap()
        };
        let authenticator = Authenticator::new(
            credentials("global"),
            BTreeMap::from([("prod".to_owned(), credentials("prod-token"))]),
        );
        let with_token = |token: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("x-gitlab-token", HeaderValue::from_static(token));
            headers
        };
        let check = |source, token| {
            authenticator
                .for_source(source)
                .check_headers(&with_token(token), 0)
                .map(|pending| pending.is_none())
        };
        assert_eq!(check(Some("prod"), "prod-token"), Ok(true));
        assert_eq!(check(Some("prod"), "global"), Err(AuthFailure::WrongToken));
        assert_eq!(check(Some("staging"), "global"), Ok(true));
        assert_eq!(check(None, "global"), Ok(true));
        assert_eq!(check(None, "prod-token"), Err(AuthFailure::WrongToken));
    }
}
