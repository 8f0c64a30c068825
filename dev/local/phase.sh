#!/usr/bin/env bash
# Runs one phase of `make test` and prints a one-line summary of it:
#   dev/local/phase.sh NAME COMMAND [ARGS...]
# The command's own output is shown as it runs; the summary line comes last.
set -uo pipefail
name=$1; shift
started=$SECONDS
printf '==> %s\n' "$name"
"$@"
status=$?
elapsed=$((SECONDS - started))
if ((status == 0)); then
  printf '==> phase %-12s ok      in %4d s\n' "$name" "$elapsed"
else
  printf '==> phase %-12s FAILED  in %4d s (exit %d)\n' "$name" "$elapsed" "$status"
fi
exit "$status"
