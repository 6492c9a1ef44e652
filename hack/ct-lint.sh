#!/usr/bin/env bash
# hack/ct-lint.sh: ct lint of the chart with each ci/*-values.yaml, and ct's version check: a
# chart that differs from the target branch (BASE, default origin/main: where a change is
# going) must have a higher version there, as ct.yaml's check-version-increment asks. With no
# such branch (a clone of main itself, or a checkout without a remote) or no change in the chart
# since it, there is nothing to compare, and the script says so.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "${REPO_ROOT}"

chart=charts/ai-assistant
kube_version="${KUBE_VERSION:-1.37.2}"
base="${BASE:-origin/main}"
remote="${base%%/*}" branch="${base#*/}"

args=(--config ct.yaml --helm-lint-extra-args "--kube-version ${kube_version}")
# Naming the chart (--charts) needs no remote, but ct then skips its version check; so the
# chart is named only when there is no change to check.
if ! git rev-parse -q --verify "${base}^{commit}" >/dev/null; then
  step "ct lint (no ${base} to compare the chart version with: version check off)"
  args+=(--charts "${chart}")
elif git diff --quiet "$(git merge-base "${base}" HEAD)" -- "${chart}"; then
  step "ct lint (chart unchanged since ${base}: no version bump needed)"
  args+=(--charts "${chart}")
else
  step "ct lint (chart changed since ${base}: its version must be higher than there)"
  args+=(--check-version-increment=true --remote "${remote}" --target-branch "${branch}")
fi
ct lint "${args[@]}"
