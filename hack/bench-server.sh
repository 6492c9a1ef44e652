#!/usr/bin/env bash
# Loopback load run of the ai-assistant server with its real dependencies: PostgreSQL and Redis
# from the Debian packages and the LLM stand-in, all on 127.0.0.1 with free ports. The load
# generator hits /health and /ready and prints requests/s and p99. Everything it starts is
# stopped on exit. Tunables: BENCH_DURATION (default 10s), BENCH_CONCURRENCY (default 32).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

duration="${BENCH_DURATION:-10s}"
concurrency="${BENCH_CONCURRENCY:-32}"
work="$(mktemp -d /tmp/bench-server.XXXXXX)"
pids=()
pgdata=""
pgbin=""

cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "${pid}" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "${pid}" 2>/dev/null || true
  done
  if [[ -n "${pgdata}" ]]; then
    runuser -u postgres -- "${pgbin}/pg_ctl" -D "${pgdata}" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "${work}"
}
trap cleanup EXIT

# free_port prints a loopback port nothing listens on.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then
      echo "${p}"
      return
    fi
  done
  die "no free loopback port found"
}

# wait_for CMD...: retry CMD for up to 30 s.
wait_for() {
  local deadline=$((SECONDS + 30))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "timed out waiting for: $*"
    sleep 0.2
  done
}

command -v redis-server >/dev/null || die "redis-server missing: run hack/test-deps.sh"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "${pgbin}/initdb" ]] || die "PostgreSQL server binaries missing: run hack/test-deps.sh"

step "building ai-assistant, llm-standin and loadgen"
go build -o "${work}/bin/" ./cmd/ai-assistant ./cmd/llm-standin ./cmd/loadgen

step "starting PostgreSQL (as the postgres user) and Redis on loopback"
chmod 755 "${work}"
mkdir -p "${work}/pg" && chown postgres: "${work}/pg"
pgdata="${work}/pg/data"
pg_port="$(free_port)"
runuser -u postgres -- "${pgbin}/initdb" -D "${pgdata}" -U postgres -A trust --no-sync >/dev/null
runuser -u postgres -- "${pgbin}/pg_ctl" -D "${pgdata}" -w -l "${work}/pg/log" \
  -o "-p ${pg_port} -h 127.0.0.1 -c unix_socket_directories= -c fsync=off" start >/dev/null
redis_port="$(free_port)"
redis-server --port "${redis_port}" --bind 127.0.0.1 --save "" --appendonly no --dir "${work}" >"${work}/redis.log" 2>&1 &
pids+=($!)

step "starting the LLM stand-in and the server"
llm_port="$(free_port)"
PORT="${llm_port}" "${work}/bin/llm-standin" >"${work}/standin.log" 2>&1 &
pids+=($!)
app_port="$(free_port)"
PORT="${app_port}" LOG_LEVEL=WARN APP_COLOR=blue \
  DATABASE_URL="postgres://postgres@127.0.0.1:${pg_port}/postgres?sslmode=disable" \
  REDIS_URL="redis://127.0.0.1:${redis_port}/0" \
  LLM_BASE_URL="http://127.0.0.1:${llm_port}/v1" \
  "${work}/bin/ai-assistant" >"${work}/server.log" 2>&1 &
pids+=($!)
wait_for "${work}/bin/ai-assistant" healthcheck --url "http://127.0.0.1:${app_port}/ready"

results=()
run() {
  local path="$1" keepalive="$2" label="$3" out
  step "load: ${label} for ${duration}, ${concurrency} in flight"
  out="$("${work}/bin/loadgen" -url "http://127.0.0.1:${app_port}${path}" -duration "${duration}" \
    -concurrency "${concurrency}" -keepalive="${keepalive}" -max-requests 2000000 -quiet)"
  echo "${out}" | sed 's/^/    /' >&2
  results+=("$(printf '%-34s %s' "${label}" "$(echo "${out}" | awk '/^requests/ {rps=$5} /^latency/ {p99=$7} END {printf "%10.0f req/s   p99 %s", rps, p99}')")")
}
run /health true "GET /health (keep-alive)"
run /ready true "GET /ready (keep-alive, 1s cache)"
run /health false "GET /health (new connection each)"

step "results (server, dependencies and load generator share this machine's $(nproc) cores)"
printf '%s\n' "${results[@]}"
