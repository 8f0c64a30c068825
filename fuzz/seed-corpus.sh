#!/usr/bin/env bash
# Writes the seed corpora fuzz/corpus/<target>/ from the real payloads in schemas/fixtures/.
# Run it after adding fixtures; `make fuzz` reads the seeds and writes what it finds to
# fuzz/target/corpus/, so the committed seeds stay small.
set -euo pipefail
cd "$(dirname "$0")/.."
fixtures=schemas/fixtures
out=fuzz/corpus

# The X-Gitlab-Event GitLab sends a fixture with (as fuzz/src/fixtures.rs's event_of).
event_of() {
    case "$1" in
        *note*) echo "Note Hook" ;;
        *tag_push*) echo "Tag Push Hook" ;;
        *push*) echo "Push Hook" ;;
        *merge_request*) echo "Merge Request Hook" ;;
        *pipeline*) echo "Pipeline Hook" ;;
        *build* | *job*) echo "Job Hook" ;;
        *issue*) echo "Issue Hook" ;;
        *deployment*) echo "Deployment Hook" ;;
        *release*) echo "Release Hook" ;;
        *wiki_page*) echo "Wiki Page Hook" ;;
        *feature_flag*) echo "Feature Flag Hook" ;;
        *member*) echo "Member Hook" ;;
        *subgroup*) echo "Subgroup Hook" ;;
        *resource_access_token*) echo "Resource Access Token Hook" ;;
        *) echo "System Hook" ;;
    esac
}

rm -rf "$out"
mkdir -p "$out"/{http,payload,projection,record,signature,spool_codec,timestamp}

for file in "$fixtures"/gitlab-webhooks/*.json "$fixtures"/seeds/*.json; do
    name=$(basename "$file" .json)
    event=$(event_of "$name")
    # payload and projection: `X-Gitlab-Event` line, then the body.
    { printf '%s\n' "$event"; cat "$file"; } >"$out/payload/$name"
    cp "$out/payload/$name" "$out/projection/$name"
    # record, signature, spool_codec read any bytes: the start of a few payloads.
    case "$name" in
        pipeline | job | push | issue_000)
            for target in record signature spool_codec; do
                head -c 400 "$file" >"$out/$target/$name"
            done
            ;;
    esac
done

# http: one delivery per hook kind on /hooks, and each other way in (see fuzz/src/http.rs).
for file in "$fixtures"/gitlab-webhooks/*.json; do
    name=$(basename "$file" .json)
    { printf '/hooks\nX-Gitlab-Token: $TOKEN\nX-Gitlab-Event: %s\nContent-Type: application/json\n\n' \
        "$(event_of "$name")"; cat "$file"; } >"$out/http/$name"
done
body="$fixtures/seeds/push_000.json"
{ printf '/hooks/prod\nX-Gitlab-Token: $PROD\nX-Gitlab-Event: Push Hook\nIdempotency-Key: 5f2c\n\n'; cat "$body"; } >"$out/http/prod"
{ printf '/hooks/signed\nwebhook-id: msg_1\nwebhook-timestamp: $NOW\nwebhook-signature: v1,bm90 $SIGN\nX-Gitlab-Event: Push Hook\n\n'; cat "$body"; } >"$out/http/signed"
{ printf '/hooks !\nX-Gitlab-Token: $TOKEN\nX-Gitlab-Event: Push Hook\n\n'; cat "$body"; } >"$out/http/sink_fails"
printf '/hooks/unknown\nX-Gitlab-Token: $TOKEN\nX-Gitlab-Event: Push Hook\n\n{}' >"$out/http/unknown_source"
printf '/hooks\nX-Gitlab-Token: $TOKEN\n\n\xff\xfe' >"$out/http/dead_letter"

# timestamp: every timestamp in the fixtures, each documented form, and the edges of the
# calendar the parser can represent.
grep -ohE '"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+( ?UTC|Z|[+-][0-9:]{4,5}| [+-][0-9:]{4,5})?"' \
    "$fixtures"/*/*.json | tr -d '"' | sort -u >/tmp/hookline-fuzz-timestamps.$$
{
    cat /tmp/hookline-fuzz-timestamps.$$
    printf '%s\n' "2021-02-23T02:41:37.886Z" "2021-04-28 21:50:00 +0200" \
        "2021-04-28 21:50:00 +02:00" "2021-04-28T21:50:00+0200" \
        "9999-12-31T23:59:59Z" "9999-12-31 23:59:59 UTC" "0000-01-01T00:00:00Z"
} | sort -u | while IFS= read -r stamp; do
    printf '%s' "$stamp" >"$out/timestamp/$(printf '%s' "$stamp" | sha1sum | cut -c1-16)"
done
rm -f /tmp/hookline-fuzz-timestamps.$$

du -sh "$out"
