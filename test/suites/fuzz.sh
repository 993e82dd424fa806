#!/usr/bin/env bash
# Fuzz smoke (part of make test): the libFuzzer target over the key parser,
# checksum and hashing, built with ASan and UBSan, for 200000 executions.
# The long run (10 million executions) is `make -C test/fuzz long`.
set -uo pipefail
cd "$(dirname "$0")/../.."

passed=0 failed=0
if ! command -v clang >/dev/null 2>&1; then
    echo "fuzz: clang is missing (apikey_deps --clang installs it)"
    echo "0 passed, 1 failed"
    exit 1
fi
if make -s -C test/fuzz build; then
    passed=$((passed + 1)); echo "ok - fuzz target builds with -fsanitize=fuzzer,address,undefined"
else
    failed=$((failed + 1)); echo "not ok - fuzz target does not build"
fi
if [ "$failed" -eq 0 ]; then
    out=$(make -s -C test/fuzz smoke 2>&1); rc=$?
    echo "$out" | grep -E "stat::number_of_executed_units|Done [0-9]+ runs" | tail -2
    if [ "$rc" -eq 0 ] && echo "$out" | grep -q "Done 200000 runs"; then
        passed=$((passed + 1)); echo "ok - 200000 executions, no sanitizer report"
    else
        failed=$((failed + 1)); echo "not ok - fuzz smoke failed"; echo "$out" | tail -30
    fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
