#!/usr/bin/env bash
# Mutation testing of the pure core with mutmut 3 (issue #18).
#
#   bench/mutation.sh [MODULE...]     e.g. bench/mutation.sh units dedupe
#
# MODULE is a file of watcher/core without .py; with none, every core module
# (hours on two cores: run a few at a time, or set MUTATION_JOBS to the CPUs).  Prints, per module, killed/total and the percentage, then the
# mutants not killed (see one with `mutmut show NAME` in the scratch directory).
#
# The tests run on each module's mutants are its own unit tests,
# tests/unit/core/test_MODULE.py: a mutant only counts as killed if the tests
# written for that module notice it.  MUTATION_TESTS overrides the selection
# (e.g. MUTATION_TESTS=tests/unit/core: far slower for text, whose functions
# nearly every core test reaches).
#
# mutmut copies the project into mutants/ beside its config.  So that nothing is
# written into the checkout, it runs in a scratch copy: $MUTATION_DIR, by
# default ${TMPDIR:-/tmp}/watcher-mutation, laid anew on every run (results are
# never reused from an older run).  The config is bench/mutmut.cfg.
# Runs on the project's venv (.venv, or $VENV); needs `pip install -e '.[test]'`.
# MUTATION_JOBS caps the mutants run at once (mutmut's --max-children; default:
# mutmut's own, one per CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${VENV:-$ROOT/.venv}
WORK=${MUTATION_DIR:-${TMPDIR:-/tmp}/watcher-mutation}

if [ $# -eq 0 ]; then
    for path in watcher/core/*.py; do
        module=$(basename "$path" .py)
        [ "$module" = __init__ ] || set -- "$@" "$module"
    done
fi
for module in "$@"; do
    if [ ! -f "watcher/core/$module.py" ]; then
        echo "mutation.sh: no module watcher/core/$module.py" >&2
        exit 2
    fi
done
if [ ! -x "$VENV/bin/mutmut" ]; then
    echo "mutation.sh: $VENV/bin/mutmut is missing: pip install -e '.[test]'" >&2
    exit 2
fi

case "$WORK" in
    "" | / | "$ROOT" | "$ROOT"/*)
        echo "mutation.sh: MUTATION_DIR must be a scratch directory outside the checkout" >&2
        exit 2
        ;;
esac
rm -rf "$WORK"
mkdir -p "$WORK"
cp -r watcher tests bench docs pyproject.toml "$WORK"/
find "$WORK" -name __pycache__ -type d -prune -exec rm -rf {} +
{
    cat bench/mutmut.cfg
    echo "only_mutate ="
    for module in "$@"; do
        echo "    watcher/core/$module.py"
    done
    echo "pytest_add_cli_args_test_selection ="
    if [ -n "${MUTATION_TESTS:-}" ]; then
        for tests in $MUTATION_TESTS; do
            echo "    $tests"
        done
    else
        for module in "$@"; do
            if [ -f "tests/unit/core/test_$module.py" ]; then
                echo "    tests/unit/core/test_$module.py"
            fi
        done
    fi
} >"$WORK/setup.cfg"
if ! grep -A1 '^pytest_add_cli_args_test_selection =' "$WORK/setup.cfg" | grep -q '^    '; then
    echo "mutation.sh: no tests/unit/core/test_MODULE.py for $*: set MUTATION_TESTS" >&2
    exit 2
fi

# The tests find the corpus in ../shared beside the checkout (conftest.py,
# test_sitemap.py): mutants/ is one level deeper, so link it beside mutants/.
if [ -d "$ROOT/../shared" ]; then
    ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/shared"
fi

cd "$WORK"
start=$(date +%s)
"$VENV/bin/mutmut" run ${MUTATION_JOBS:+--max-children "$MUTATION_JOBS"} >"$WORK/run.log" 2>&1 || {
    tail -40 "$WORK/run.log" >&2
    echo "mutation.sh: mutmut run failed (log: $WORK/run.log)" >&2
    exit 1
}
"$VENV/bin/mutmut" results --all true >"$WORK/results.txt"
elapsed=$(($(date +%s) - start))

"$VENV/bin/python" - "$WORK/results.txt" "$elapsed" "$@" <<'PY'
"""Per-module scores from `mutmut results --all true` (lines 'name: status')."""

import sys
from collections import defaultdict

path, elapsed, modules = sys.argv[1], sys.argv[2], sys.argv[3:]
# A timeout is a mutant the tests stopped (an endless loop); "caught by type
# check" cannot occur (no type_check_command). Not run: no tests reached it.
KILLED = {"killed", "timeout", "caught by type check"}
status_of: dict[str, dict[str, str]] = defaultdict(dict)
for line in open(path, encoding="utf-8"):
    name, sep, status = line.strip().rpartition(": ")
    if not sep or not name.startswith("watcher.core."):
        continue
    module = name.removeprefix("watcher.core.").partition(".")[0]
    status_of[module][name] = status
print(f"{'module':<12} {'killed':>7} {'total':>6} {'score':>7}")
all_killed = all_total = 0
for module in modules:
    statuses = status_of.get(module, {})
    killed = sum(status in KILLED for status in statuses.values())
    total = len(statuses)
    all_killed += killed
    all_total += total
    score = f"{100 * killed / total:.1f}%" if total else "-"
    print(f"{module:<12} {killed:>7} {total:>6} {score:>7}")
if all_total:
    print(f"{'all':<12} {all_killed:>7} {all_total:>6} {100 * all_killed / all_total:>6.1f}%")
print(f"({elapsed} s)")
left = [
    (name, status)
    for module in modules
    for name, status in sorted(status_of.get(module, {}).items())
    if status not in KILLED
]
if left:
    print("\nnot killed:")
    for name, status in left:
        print(f"  {name}: {status}")
PY
