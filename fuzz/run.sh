#!/usr/bin/env bash
# The long fuzzing run (`make fuzz`): every target in fuzz/fuzz_targets/ under libFuzzer,
# FUZZ_SECONDS each, starting from the seed corpus fuzz/corpus/<target>/. New inputs go to
# fuzz/target/corpus/<target>/, crashes to fuzz/artifacts/<target>/. See fuzz/README.md.
#
#   FUZZ_SECONDS=60        seconds per target
#   FUZZ_TARGETS="a b"     targets to run (default: all)
#   FUZZ_TOOLCHAIN=nightly the rustup toolchain to build with (libFuzzer needs nightly)
#   FUZZ_KEEP_GOING=1      keep fuzzing a target after a crash (libFuzzer's fork mode)
set -uo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
toolchain=${FUZZ_TOOLCHAIN:-nightly}
cargo_fuzz_version=0.13.2
all_targets=$(cd fuzz/fuzz_targets && ls -- *.rs | sed 's/\.rs$//' | tr '\n' ' ')
targets=${FUZZ_TARGETS:-$all_targets}

if ! rustup toolchain list 2>/dev/null | grep -q "^$toolchain"; then
    cat >&2 <<MSG
fuzz: no '$toolchain' Rust toolchain on this machine (rustup toolchain list).
libFuzzer's instrumentation needs nightly Rust. Either
  - install one where toolchains can be downloaded: rustup toolchain install nightly
    (or name an installed nightly: FUZZ_TOOLCHAIN=nightly-2025-01-01 make fuzz), or
  - run the same targets on stable as property tests, as make test does:
    cargo test -p hookline-schemas -p hookline-ingest -p hookline-consumers --test 'fuzz_*'
MSG
    exit 2
fi
if ! cargo +"$toolchain" fuzz --version 2>/dev/null | grep -q "$cargo_fuzz_version"; then
    echo "fuzz: installing cargo-fuzz $cargo_fuzz_version" >&2
    cargo install cargo-fuzz --locked --version "$cargo_fuzz_version" || exit 1
fi

export CARGO_TARGET_DIR="$PWD/fuzz/target"
extra=()
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    extra=(-fork=1 -ignore_crashes=1)
fi
failed=()
for target in $targets; do
    echo "==> fuzz $target for ${seconds}s" >&2
    mkdir -p "fuzz/target/corpus/$target"
    if ! cargo +"$toolchain" fuzz run --fuzz-dir fuzz "$target" \
        "fuzz/target/corpus/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 "${extra[@]}"; then
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "==> make fuzz: crashes or errors in: ${failed[*]} (inputs in fuzz/artifacts/<target>/;" \
        "reproduce with: cargo +$toolchain fuzz run --fuzz-dir fuzz <target> <input>)" >&2
    exit 1
fi
echo "==> make fuzz: $targets: no crash in ${seconds}s each" >&2
