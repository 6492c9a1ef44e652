#!/usr/bin/env bash
# hack/test.sh [unit|integration|all]: the project's tests. `unit` needs no cluster: the chart
# render harness, the server against real PostgreSQL and Redis on loopback, the cutover
# logic with fakes, the image builder, and the cutover against a real kube-apiserver, etcd and
# kube-controller-manager on loopback (tag apiserver). `integration` brings up the kind cluster
# (building the offline node image when missing), loads the images and runs test/integration on
# it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

suite="${1:-all}"
case "${suite}" in unit | integration | all) ;; *) die "usage: $0 [unit|integration|all]" ;; esac

"${REPO_ROOT}/hack/tools.sh"

"${REPO_ROOT}/hack/test-deps.sh"

unit_suites() {
  step "unit tests"
  mkdir -p .cache
  gotestsum --format pkgname-and-test-fails --jsonfile .cache/unit.json -- -count=1 -timeout 20m ./...
  step "slowest unit tests"
  gotestsum tool slowest --jsonfile .cache/unit.json --threshold 10s >&2
  # The control plane's binaries first, outside the test binary: a cold build (the node image's
  # Kubernetes commands and etcd, ~8 min on 2 cores, once per machine) then shows its steps here.
  step "control-plane binaries (kube-apiserver, kube-controller-manager, etcd)"
  go run ./hack/kindnode -control-plane >/dev/null
  step "cutover tests on a real API server"
  gotestsum --format pkgname-and-test-fails -- -count=1 -timeout 20m -tags apiserver ./internal/bluegreen/realapi/... ./internal/kubeapply/...
  step "unit suites passed"
}

integration_suite() {
  # The cluster first, outside the test binary: a cold node-image build (~11 min) then shows
  # each step and its time here instead of inside a test's hidden output.
  "${REPO_ROOT}/hack/cluster.sh" up
  "${REPO_ROOT}/hack/images.sh"
  step "integration tests on kind"
  # Up to four tests at once (INTEGRATION_PARALLEL), longest first by this machine's last run
  # (test/integration/schedule_test.go holds them; -parallel only lets them all start): most
  # of their time is spent waiting on the cluster.
  mkdir -p .cache
  gotestsum --format pkgname-and-test-fails --jsonfile .cache/integration.json -- -count=1 -timeout 60m -parallel 100 -tags integration ./test/integration/...
  step "longest integration tests (time in their slot; up to ${INTEGRATION_PARALLEL:-4} at once, longest first)"
  head -n 15 .cache/integration-slots.txt >&2
}

case "${suite}" in
unit) unit_suites ;;
integration) integration_suite ;;
all)
  # The integration suite keeps about 1.2 of 2 cores busy: most of its time its tests wait on
  # the cluster. The unit suites need no cluster, so they run beside it in a CPU group of weight
  # 128 (cpu_group; a process at nice 0 weighs 1024, and so do all of Docker's containers
  # together), so that they take the CPU the integration suite leaves idle and little more:
  # with the test processes in one group of 1024 instead, the unit suites could take up to half the
  # CPU from the cluster whenever the test binary idled, and the Ingress test's fresh TLS
  # connections timed out. Their output is printed once both have ended. Each runs in a
  # subshell, so errexit holds inside it and its exit status is its own.
  mkdir -p .cache
  step "unit suites start beside the integration suite (log: .cache/unit-suites.log)"
  ( cpu_group ai-assistant-chart-unit 128 && renice -n 10 -p "${BASHPID}" >/dev/null && unit_suites ) >.cache/unit-suites.log 2>&1 &
  unit_pid=$!
  ( integration_suite ) &
  integration_pid=$!
  integration_rc=0 unit_rc=0
  wait "${integration_pid}" || integration_rc=$?
  wait "${unit_pid}" || unit_rc=$?
  step "unit suites (run beside the integration suite; times since the start):"
  cat .cache/unit-suites.log >&2
  ((unit_rc == 0)) || die "unit suites failed (exit ${unit_rc}): see above"
  ((integration_rc == 0)) || die "integration suite failed (exit ${integration_rc})"
  ;;
esac
step "${suite} tests passed"
