#!/usr/bin/env bash
# An OCI runtime that drops CAP_SYS_RESOURCE, then runs the real runc.
#
# Why: on VMs whose capability bounding set lacks CAP_SYS_RESOURCE (bit 24), Docker 20.10
# still asks for every capability for --privileged containers (kind's nodes), and runc fails
# with "unable to apply caps: operation not permitted". hack/docker.sh installs this file and
# registers it as dockerd's default runtime only on such machines.
set -o errexit -o nounset -o pipefail

REAL_RUNC="${REAL_RUNC:-/usr/sbin/runc}"
CAP="CAP_SYS_RESOURCE"

# strip FILE PREFIX: remove CAP from every capability set under PREFIX in the JSON FILE.
strip() {
  local file="$1" prefix="$2" tmp
  [[ -f "${file}" ]] || return 0
  tmp="$(mktemp "${file}.XXXXXX")"
  jq --arg cap "${CAP}" "
    if ${prefix}.capabilities then
      ${prefix}.capabilities |= with_entries(.value |= (if type == \"array\" then map(select(. != \$cap)) else . end))
    else . end" "${file}" > "${tmp}"
  mv "${tmp}" "${file}"
}

# Find the subcommand and the files it reads; global flags come before it.
subcmd="" bundle="" process=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a="${args[i]}"
  if [[ -z "${subcmd}" ]]; then
    case "${a}" in
      --root | --log | --log-format | --criu | --rootless) i=$((i + 1)) ;;
      -*) ;;
      *) subcmd="${a}" ;;
    esac
    continue
  fi
  case "${a}" in
    --bundle | -b) bundle="${args[i + 1]:-}" ;;
    --bundle=*) bundle="${a#--bundle=}" ;;
    --process | -p) process="${args[i + 1]:-}" ;;
    --process=*) process="${a#--process=}" ;;
  esac
done

case "${subcmd}" in
  create | run) strip "${bundle:-.}/config.json" ".process" ;;
  exec) [[ -n "${process}" ]] && strip "${process}" "" ;;
esac

exec "${REAL_RUNC}" "$@"
