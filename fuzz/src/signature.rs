//! Fuzz target: the header and signature checks (`hookline_ingest::auth`).
//!
//! Every request's credentials pass through here before anything else, so no header value may
//! make them panic. A delivery signed as GitLab signs it (Standard Webhooks: `v1,` + base64 of
//! HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`) must verify, and changing any
//! single byte of the body, the id, the timestamp or the signature must make it fail; a token
//! must match exactly.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hookline_ingest::auth::{
    signature_header, AuthFailure, Credentials, SignatureVerifier, TokenVerifier, TOKEN_HEADER,
};
use sha2::Sha256;

use crate::input::Input;

/// The instant the checks run at; timestamps are drawn around it.
const NOW: i64 = 1_732_550_400;
const TOLERANCE_SECS: u64 = 300;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut key = input.bytes(64).to_vec();
    if key.is_empty() {
        key.push(0);
    }
    let token = visible(input.bytes(40));
    let mut id = visible(input.bytes(40));
    if id.is_empty() {
        id.push_str("msg");
    }
    // Within twice the tolerance either way, so about half the inputs are fresh.
    let skew = i64::from(input.u16() % 1201) - 600;
    let change_at = input.u16() as usize;
    let change = input.byte().max(1);
    let body = input.rest();

    let secret = format!("whsec_{}", BASE64.encode(&key));
    let signatures = SignatureVerifier::new(
        "HOOKLINE_SIGNING_SECRET",
        [secret],
        Duration::from_secs(TOLERANCE_SECS),
    )
    .expect("a whsec_ secret of a non-empty key");
    let tokens = if token.trim().is_empty() {
        None
    } else {
        Some(TokenVerifier::new("HOOKLINE_GITLAB_TOKEN", [token.as_str()]).expect("a token"))
    };
    let credentials = Credentials::new(tokens.clone(), Some(signatures)).expect("credentials");

    // Arbitrary header values: an answer, never a panic.
    let mut raw = HeaderMap::new();
    for (name, value) in [
        (TOKEN_HEADER, &body[..body.len().min(16)]),
        (signature_header::ID, &body[..body.len().min(8)]),
        (signature_header::TIMESTAMP, &body[..body.len().min(12)]),
        (signature_header::SIGNATURE, body),
    ] {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            raw.insert(name, value);
        }
    }
    if let Ok(Some(pending)) = credentials.check_headers(&raw, NOW) {
        let _ = pending.verify(body);
    }

    // GitLab's signature verifies; any one byte changed does not.
    let timestamp = (NOW + skew).to_string();
    let fresh = skew.unsigned_abs() <= TOLERANCE_SECS;
    let signature = format!("v1,{}", sign(&key, &id, &timestamp, body));
    let headers = signed(&token, &id, &timestamp, &signature);
    match credentials.check_headers(&headers, NOW) {
        Ok(Some(pending)) => {
            assert!(fresh, "a timestamp {skew} s away passed");
            assert_eq!(
                pending.verify(body),
                Ok(()),
                "GitLab's own signature failed"
            );
            if !body.is_empty() {
                let mut changed = body.to_vec();
                changed[change_at % body.len()] ^= change;
                assert_eq!(pending.verify(&changed), Err(AuthFailure::BadSignature));
            }
        }
        Ok(None) => panic!("signing secrets configured but no signature to verify"),
        Err(failure) => {
            assert!(!fresh, "a fresh, signed delivery was refused: {failure:?}");
            assert_eq!(failure, AuthFailure::StaleTimestamp);
        }
    }
    if !fresh {
        return;
    }
    for field in 0..3 {
        let (mut id, mut timestamp, mut signature) = (
            id.clone().into_bytes(),
            timestamp.clone().into_bytes(),
            signature.clone().into_bytes(),
        );
        let target = [&mut id, &mut timestamp, &mut signature][field].as_mut_slice();
        if target.is_empty() {
            continue;
        }
        let at = change_at % target.len();
        // Stay a valid header value: printable ASCII changed to another printable character.
        let step = 1 + change % 93;
        target[at] = b'!' + (target[at] - b'!' + step) % 94;
        let headers = signed(
            &token,
            &String::from_utf8(id).expect("ASCII"),
            &String::from_utf8(timestamp).expect("ASCII"),
            &String::from_utf8(signature).expect("ASCII"),
        );
        let verdict = credentials
            .check_headers(&headers, NOW)
            .and_then(|pending| pending.expect("a signature to verify").verify(body));
        assert!(
            verdict.is_err(),
            "field {field} changed at {at} still verifies"
        );
    }

    // The token: exact match only.
    if let Some(tokens) = tokens {
        assert_eq!(tokens.verify(Some(token.as_bytes())), Ok(()));
        assert_eq!(tokens.verify(None), Err(AuthFailure::MissingToken));
        let mut wrong = token.clone().into_bytes();
        let at = change_at % wrong.len();
        wrong[at] ^= change;
        assert_eq!(tokens.verify(Some(&wrong)), Err(AuthFailure::WrongToken));
    }
}

/// Printable ASCII without spaces at the ends, as a header value needs.
fn visible(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(b'!' + b % 94)).collect()
}

/// The base64 HMAC-SHA256 GitLab sends, computed independently of ingest's verifier.
fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    BASE64.encode(mac.finalize().into_bytes())
}

fn signed(token: &str, id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        (TOKEN_HEADER, token),
        (signature_header::ID, id),
        (signature_header::TIMESTAMP, timestamp),
        (signature_header::SIGNATURE, signature),
    ] {
        headers.insert(name, HeaderValue::from_str(value).expect("printable ASCII"));
    }
    headers
}
