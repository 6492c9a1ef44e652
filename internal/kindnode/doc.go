// Package kindnode builds a kind node image with no container registry: Kubernetes, etcd and
// CoreDNS are built from their Go modules, the node's OS from Debian packages on a debootstrap
// base (package debimage), and kind's own node files (entrypoint, systemd units, containerd
// config) are read from the sigs.k8s.io/kind module at build time.
//
// The image is tagged ai-assistant-kind-node:<kubernetes version>-<hash of the inputs>, where
// the inputs are the Kubernetes, kind and Go versions, the Debian suite and package list, and
// this builder's own source files. Build skips everything when that tag exists, so a warm run
// costs the time to hash a few files.
//
// Stable API:
//
//	b := kindnode.New(kindnode.Options{RepoRoot: root, Logf: logf})
//	tag, err := b.Tag()             // the tag, without building
//	tag, err = b.Build(ctx)         // build what is missing, return the tag
//	kubectl, err := b.Kubectl(ctx)  // path to the kubectl of that Kubernetes version
//	bins, err := kindnode.ControlPlaneBinaries(ctx, opts) // kube-apiserver, kube-controller-manager, etcd
//
// Everything built is cached per machine, outside the checkout (DefaultCacheDir:
// ${XDG_CACHE_HOME:-$HOME/.cache}/ai-assistant-chart/kindnode), so a fresh clone reuses it.
// Each Go program's binaries carry a stamp of their inputs (go.mod, ldflags, commands) and are
// rebuilt only when it changes. Steps and their logs (under <CacheDir>/logs/<step>.log):
// debian-base, node-base, kubernetes, images-list, etcd, coredns, pause-podnet, component-images,
// node-image.
package kindnode
