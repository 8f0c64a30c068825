//! The short run of this crate's fuzz targets (`fuzz/src/`), as property tests: the spool
//! codec, the header and signature checks, and the HTTP request path through the router with
//! an in-memory sink. The same target functions libFuzzer runs in `make fuzz`, called with a
//! fixed number of generated inputs from a fixed seed on the stable toolchain. Inputs a fuzzer
//! found to break a target are kept below as regression cases.

#[path = "../../fuzz/src/fixtures.rs"]
mod fixtures;
#[path = "../../fuzz/src/http.rs"]
mod http;
#[path = "../../fuzz/src/input.rs"]
mod input;
#[path = "../../fuzz/src/mutate.rs"]
mod mutate;
#[path = "../../fuzz/src/property.rs"]
mod property;
#[path = "../../fuzz/src/signature.rs"]
mod signature;
#[path = "../../fuzz/src/spool_codec.rs"]
mod spool_codec;

use property::{config, fixtures};
use proptest::prelude::*;

/// Paths: both endpoints, every source kind, and near misses of the routes. (A label that
/// is not UTF-8 once decoded has its own regression test below.)
const PATHS: [&str; 11] = [
    "/hooks",
    "/hooks/prod",
    "/hooks/signed",
    "/hooks/other",
    "/hooks/unknown",
    "/hooks?x=1",
    "/hooks/pr%6Fd",
    "/hooks/",
    "/hooks/prod/extra",
    "/HOOKS",
    "/",
];

/// Header sets: authenticated each way the endpoints accept, and not.
fn credentials(path: &str, variant: u8) -> Vec<(&'static str, &'static str)> {
    let signed = vec![
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "$NOW"),
        ("webhook-signature", "$SIGN"),
    ];
    match (
        variant % 5,
        path.starts_with("/hooks/pr"),
        path.starts_with("/hooks/signed"),
    ) {
        (0, _, _) => Vec::new(),
        (1, _, _) => vec![("X-Gitlab-Token", "wrong")],
        (_, true, _) => vec![("X-Gitlab-Token", "$PROD")],
        (_, _, true) => signed,
        _ => vec![("X-Gitlab-Token", "$TOKEN")],
    }
}

/// A delivery built from a (mutated) fixture, in the HTTP target's input layout.
fn delivery() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        any::<prop::sample::Index>(),
        proptest::collection::vec(any::<u8>(), 0..32),
        any::<u8>(),
    )
        .prop_map(|(path, fixture, auth, event, choices, extra)| {
            let path = *path.get(&PATHS);
            let fixture = fixture.get(fixtures());
            let mut headers = credentials(path, auth);
            if extra % 7 != 0 {
                let event = if extra % 2 == 0 {
                    fixture.event
                } else {
                    *event.get(&fixtures::EVENTS)
                };
                headers.push(("X-Gitlab-Event", event));
            }
            match extra % 9 {
                1 => headers.push(("X-Gitlab-Event", "Job Hook")),
                2 => headers.push(("Content-Length", "99999999")),
                3 => headers.push(("Idempotency-Key", "k-1")),
                4 => headers.push(("Content-Encoding", "gzip")),
                5 => headers.push(("X-Gitlab-Token", "$TOKEN")),
                _ => {}
            }
            let body = match extra % 11 {
                0 => fixture.body.clone(),
                1 => vec![b'['; 20_000],
                2 => vec![b' '; http::MAX_BODY_BYTES + 1],
                _ => mutate::mutate(&fixture.body, &choices),
            };
            let path = if extra % 13 == 0 {
                format!("{path} !")
            } else {
                path.to_owned()
            };
            http::render(&path, &headers, &body)
        })
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn spool_codec_round_trips_and_refuses_damage(
        input in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        spool_codec::run(&input);
    }

    #[test]
    fn signatures_verify_exactly(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        signature::run(&input);
    }
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn http_deliveries_of_mutated_fixtures(input in delivery()) {
        http::run(&input);
    }

    #[test]
    fn http_any_bytes(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        http::run(&input);
    }
}

#[test]
fn every_fixture_is_accepted_once_then_a_duplicate() {
    for fixture in fixtures() {
        let input = http::render(
            "/hooks",
            &[
                ("X-Gitlab-Token", "$TOKEN"),
                ("X-Gitlab-Event", fixture.event),
            ],
            &fixture.body,
        );
        let case = http::parse(&input);
        let state = http::state();
        let answer = http::send(&state, &case).expect("a valid request");
        http::check(&case, &answer);
        assert_eq!(answer.status, 200, "{}", fixture.name);
        assert_eq!(
            answer.json.as_ref().unwrap()["status"],
            "accepted",
            "{}",
            fixture.name
        );
        http::run(&input);
    }
}

#[test]
fn signed_deliveries_pass_and_a_failed_write_is_accepted_when_resent() {
    let body = &fixtures()[0].body;
    let signed = [
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "$NOW"),
        ("webhook-signature", "v1,bm90IGl0 $SIGN"),
        ("X-Gitlab-Event", "Push Hook"),
    ];
    let case = http::parse(&http::render("/hooks/signed", &signed, body));
    let answer = http::send(&http::state(), &case).expect("a valid request");
    http::check(&case, &answer);
    assert_eq!(answer.status, 200);
    // The sink fails the first write: 503, then the resend is accepted (checked by `run`).
    http::run(&http::render("/hooks/signed !", &signed, body));
}

/// Found by fuzzing: a source label that is not UTF-8 once percent-decoded is refused by axum's
/// `Path` extractor before ingest's handler runs, with a plain-text 400 ("Invalid URL: Invalid
/// UTF-8 in `source`") instead of ingest's JSON answer; it is no source ingest knows, so the
/// documented answer is the JSON 404 `unknown_source`.
#[test]
fn regression_source_label_not_utf8_gets_a_json_answer() {
    let input = http::render("/hooks/%FF%FE", &[("X-Gitlab-Token", "$TOKEN")], b"{}");
    let case = http::parse(&input);
    let answer = http::send(&http::state(), &case).expect("a valid request");
    http::check(&case, &answer);
    assert_eq!(
        answer.status,
        404,
        "{}",
        String::from_utf8_lossy(&answer.raw_body)
    );
}

/// Found by fuzzing (a defect of the target, not of ingest): a request target in absolute
/// form is routed on its path, so it is a webhook request like any other.
#[test]
fn regression_absolute_form_target_is_routed_on_its_path() {
    let input = http::render(
        "://qqqq/hooks/prod",
        &[("X-Gitlab-Token", "wrong"), ("X-Gitlab-Event", "Push Hook")],
        b"{}",
    );
    http::run(&input);
}
