#!/usr/bin/env bash
# hack/package.sh: the chart as a release artifact in ${OUT:-dist}: ai-assistant-VERSION.tgz,
# its provenance file (.prov, GPG-signed), the signing key's public half to verify with
# (ai-assistant-VERSION.pub.gpg for `--keyring`, .asc for people), and SHA256SUMS.
#   SIGN_KEY   the key (name or e-mail) to sign with, from GNUPGHOME. Unset: a throwaway key
#              made once per machine in a cache: its signature proves the package unchanged
#              since it was packaged, not who packaged it, and the script says so.
#   KEY_URL    where users fetch the public key (the signKey annotation's url).
#   CHART      the chart directory (default: charts/ai-assistant).
# The packaged Chart.yaml gets artifacthub.io/signKey with the fingerprint of the key that
# really signed it; the chart in the checkout is not changed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

chart="${CHART:-charts/ai-assistant}"
OUT="${OUT:-dist}"
KEY_URL="${KEY_URL:-https://github.com/ai-assistant-chart/ai-assistant-chart/releases/download/signing-key.asc}"
mkdir -p "${OUT}"
OUT="$(cd "${OUT}" && pwd)"

"${REPO_ROOT}/hack/tools.sh" >/dev/null
if ! command -v gpg >/dev/null; then
  [[ ${EUID} -eq 0 ]] || die "gpg is missing: install Debian's gnupg"
  step "installing gnupg"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnupg >/dev/null
fi

if [[ -z "${SIGN_KEY:-}" ]]; then
  export GNUPGHOME="${XDG_CACHE_HOME:-${HOME}/.cache}/ai-assistant-chart/package/gnupg"
  SIGN_KEY="throwaway@ai-assistant-chart.example.com"
  if ! gpg --batch --list-secret-keys "${SIGN_KEY}" >/dev/null 2>&1; then
    step "making a throwaway signing key in ${GNUPGHOME}"
    mkdir -p "${GNUPGHOME}" && chmod 700 "${GNUPGHOME}"
    gpg --batch --quiet --pinentry-mode loopback --passphrase '' \
      --quick-gen-key "ai-assistant-chart throwaway <${SIGN_KEY}>" rsa3072 sign never
  fi
  step "WARNING: signing with a throwaway key; set SIGN_KEY (and GNUPGHOME) to sign a release"
fi
fingerprint="$(gpg --batch --with-colons --fingerprint "${SIGN_KEY}" | awk -F: '$1 == "fpr" {print $10; exit}')"
[[ -n "${fingerprint}" ]] || die "no key ${SIGN_KEY} in ${GNUPGHOME:-~/.gnupg}"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# Helm reads GnuPG's legacy keyring format, which gpg 2 writes only on export.
gpg --batch --pinentry-mode loopback --passphrase "${SIGN_PASSPHRASE:-}" --export-secret-keys "${fingerprint}" >"${work}/secring.gpg"

version="$(chart_version "${chart}")"
step "packaging ai-assistant ${version}, signed by ${fingerprint}"
cp -R "${chart}" "${work}/ai-assistant"
grep -q '^annotations:' "${work}/ai-assistant/Chart.yaml" || echo 'annotations:' >>"${work}/ai-assistant/Chart.yaml"
sed -i "/^annotations:/a\\  artifacthub.io/signKey: |\\n    fingerprint: ${fingerprint}\\n    url: ${KEY_URL}" "${work}/ai-assistant/Chart.yaml"
passphrase=()
[[ -z "${SIGN_PASSPHRASE:-}" ]] || passphrase=(--passphrase-file <(printf '%s' "${SIGN_PASSPHRASE}"))
helm package --sign --key "${SIGN_KEY}" --keyring "${work}/secring.gpg" "${passphrase[@]}" \
  --destination "${OUT}" "${work}/ai-assistant" >/dev/null

pkg="ai-assistant-${version}.tgz"
gpg --batch --export "${fingerprint}" >"${OUT}/ai-assistant-${version}.pub.gpg"
gpg --batch --armor --export "${fingerprint}" >"${OUT}/ai-assistant-${version}.pub.asc"
step "verifying ${pkg} against the public key"
helm verify --keyring "${OUT}/ai-assistant-${version}.pub.gpg" "${OUT}/${pkg}" >&2
(cd "${OUT}" && sha256sum "${pkg}" "${pkg}.prov" >"ai-assistant-${version}-SHA256SUMS")
step "chart ${version} in ${OUT}:"
(cd "${OUT}" && ls -l "${pkg}" "${pkg}.prov" | awk '{printf "    %-34s %7.1f KB\n", $9, $5 / 1024}') >&2
cat >&2 <<NEXT
next:
  push:    helm push ${OUT}/${pkg} oci://<registry>/charts   (pushes the .prov beside it)
  install: helm install ai-assistant oci://<registry>/charts/ai-assistant --version ${version} \\
             --verify --keyring ${OUT}/ai-assistant-${version}.pub.gpg
NEXT
