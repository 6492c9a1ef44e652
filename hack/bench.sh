#!/usr/bin/env bash
# hack/bench.sh: the figures behind the project's speed claims. The chart render in-process
# (Helm SDK) against a `helm template` subprocess, with their ratio; then a loopback load run
# on the server's /health and /ready (hack/bench-server.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"
"${REPO_ROOT}/hack/tools.sh"

step "render benchmark: in-process vs helm template subprocess"
out=$(go test -run '^$' -bench 'BenchmarkRender' -benchtime 3s -count 1 ./test/unit/)
echo "${out}" | grep -E '^Benchmark'
awk '/^BenchmarkRenderInProcess/ {inproc=$3} /^BenchmarkRenderHelmTemplate/ {sub_=$3}
     END {if (inproc > 0 && sub_ > 0) printf "in-process render: %.2f ms, helm template: %.2f ms, ratio %.1fx\n", inproc/1e6, sub_/1e6, sub_/inproc; else exit 1}' <<<"${out}"

"${REPO_ROOT}/hack/bench-server.sh"
