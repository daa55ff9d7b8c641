#!/bin/sh
# `make test`: unit tests (Criterion, sanitizer build), black-box, browser and end-to-end tests
# (node:test), then a short fuzz run. Keeps going after a failing phase so that one run shows
# everything, and ends with one summary line; the exit status is non-zero if anything failed.
set -u
cd "$(dirname "$0")/.."
LOG=build/test-logs
mkdir -p "$LOG"
status=0
passed=0
failed=0

make --no-print-directory asan || exit 1

echo "==== source shape (file and function sizes, include cycles)"
if scripts/check-shape; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi

echo "==== unit tests (Criterion, ASan + UBSan)"
for t in build/asan/tests/test_*; do
  echo "== $t"
  ASAN_OPTIONS=detect_leaks=1 "$t" --jobs 2 2>&1 | tee "$LOG/$(basename "$t").log" | grep -v '^\[----\]' || true
  line=$(grep 'Synthesis' "$LOG/$(basename "$t").log" | tail -n 1)
  p=$(echo "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
  f=$(echo "$line" | sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p')
  [ -n "$p" ] || { echo "$t: no result (crashed?)"; status=1; failed=$((failed + 1)); continue; }
  passed=$((passed + p))
  for n in $f; do failed=$((failed + n)); [ "$n" -eq 0 ] || status=1; done
done

echo "==== black-box, browser and end-to-end tests (node:test)"
make --no-print-directory js-test 2>&1 | tee "$LOG/js.log"
p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$LOG/js.log" | tail -n 1)
f=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$LOG/js.log" | tail -n 1)
if [ -z "$p" ]; then echo "node tests: no result"; status=1; failed=$((failed + 1)); fi
passed=$((passed + ${p:-0}))
failed=$((failed + ${f:-0}))
[ "${f:-0}" -eq 0 ] || status=1

echo "==== short fuzz run (libFuzzer, 10 s per target)"
if make --no-print-directory fuzz-short > "$LOG/fuzz.log" 2>&1; then
  n=$(grep -c '^Done ' "$LOG/fuzz.log")
  grep -E '^== fuzz|^Done ' "$LOG/fuzz.log"
  passed=$((passed + n))
else
  tail -n 80 "$LOG/fuzz.log"
  failed=$((failed + 1))
  status=1
fi

# CI shows only the tail of this output: name what failed here, right above the summary.
if [ "$status" -ne 0 ]; then
  echo "==== what failed"
  grep -h -E 'Failing: [1-9]|Crashing: [1-9]|^\[FAIL\]' "$LOG"/test_*.log 2>/dev/null | head -n 20
  grep -E "^ *not ok |^ *location: " "$LOG/js.log" 2>/dev/null | head -n 40
fi
echo "tests: $passed passed, $failed failed"
exit $status
