package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Module is a command of another Go module, built at a pinned version. By default with
// `go install <package>@<version>`: the module's own go.mod and go.sum decide its
// dependencies, and this repository's go.mod is untouched. A module whose go.mod has replace
// directives cannot be installed that way; Dir then names a small module of this repository
// (a go.mod that requires it, repeats its replaces and lists Package as a tool, and its
// go.sum), and the binary is built with `go build` there.
type Module struct {
	Name    string // repository and binary name, e.g. "metrics-server"
	Package string // e.g. "sigs.k8s.io/metrics-server/cmd/metrics-server"
	Version string // module version, also the image tag
	// LDFlags are added to "-s -w -buildid=", e.g. to stamp the version as upstream's
	// Makefile does.
	LDFlags string
	Port    int
	// Dir, relative to the repository root, is the module to build Package in (see above).
	Dir string
	// Tags are build tags, e.g. Prometheus's "remove_all_sd".
	Tags []string
	// Toolchain, e.g. "go1.27.3", is exported as GOTOOLCHAIN for modules that need a newer
	// Go than this repository's; the go command fetches it from the module proxy.
	Toolchain string
}

// Modules are the third-party commands `make images` builds, in order: the metrics pipeline
// (metrics-server), then the monitoring stack (internal/monitoring's Prometheus), the
// adapter first as it is the quickest.
var Modules = []Module{MetricsServer, PrometheusAdapter, PrometheusOperator, PrometheusConfigReloader, Prometheus, Traefik, CertManager}

// MetricsServer is the approved metrics-server release (v0.9.0 is served but not approved),
// stamped with its version where upstream's Makefile puts it (client-go's version package),
// so its /version and logs name it.
var MetricsServer = Module{
	Name:    "metrics-server",
	Package: "sigs.k8s.io/metrics-server/cmd/metrics-server",
	Version: "v0.8.0",
	LDFlags: "-X k8s.io/client-go/pkg/version.gitVersion=v0.8.0",
	Port:    10250,
}

// prometheusVersion stamps a Prometheus-family binary as upstream's promu and Makefiles do
// (prometheus/common's version package), so its /api/v1/status/buildinfo, --version and
// logs name the release.
func prometheusVersion(v string) string {
	return "-X github.com/prometheus/common/version.Version=" + v
}

// Prometheus is the server (module v0.316.0 is Prometheus 3.16.0), trimmed to the Kubernetes
// service discovery the operator's configuration uses; the web UI's assets need a pnpm build
// and are left out, the HTTP API is what the tests and the adapter read.
var Prometheus = Module{
	Name:    "prometheus",
	Package: "github.com/prometheus/prometheus/cmd/prometheus",
	Version: "v0.316.0",
	LDFlags: prometheusVersion("3.16.0"),
	Port:    9090,
	Tags:    []string{"remove_all_sd", "enable_kubernetes_sd"},
}

// PrometheusOperator and PrometheusConfigReloader are prometheus-operator v0.85.0's two
// commands. Its go.mod replaces pkg/apis/monitoring and pkg/client with its own folders, so
// they are built in hack/modules/prometheus-operator, which requires both at v0.85.0.
var (
	PrometheusOperator = Module{
		Name:    "prometheus-operator",
		Package: "github.com/prometheus-operator/prometheus-operator/cmd/operator",
		Version: "v0.85.0",
		LDFlags: prometheusVersion("0.85.0"),
		Port:    8080,
		Dir:     "hack/modules/prometheus-operator",
	}
	PrometheusConfigReloader = Module{
		Name:    "prometheus-config-reloader",
		Package: "github.com/prometheus-operator/prometheus-operator/cmd/prometheus-config-reloader",
		Version: "v0.85.0",
		LDFlags: prometheusVersion("0.85.0"),
		Port:    8080,
		Dir:     "hack/modules/prometheus-operator",
	}
)

// PrometheusAdapter serves custom.metrics.k8s.io from Prometheus queries. The module proxy
// lists no version of it, and `go install pkg@version` reads that list (for deprecations) and
// fails, so it is built in hack/modules/prometheus-adapter, whose go.mod pins v0.12.0.
var PrometheusAdapter = Module{
	Name:    "prometheus-adapter",
	Package: "sigs.k8s.io/prometheus-adapter/cmd/adapter",
	Version: "v0.12.0",
	Port:    6443,
	Dir:     "hack/modules/prometheus-adapter",
}

// BuildModule produces <out>/<name>-<version>.tar from m unless its inputs are unchanged
// since the last run.
func (b *Builder) BuildModule(ctx context.Context, m Module) (Result, error) {
	flags := m.buildFlags()
	hash, err := b.moduleHash(ctx, m, flags)
	if err != nil {
		return Result{}, fmt.Errorf("hash inputs of %s:%s: %w", m.Name, m.Version, err)
	}
	return b.build(ctx, m.Name, m.Version, m.Port, hash, func(bin string) error {
		b.logf("compiling %s@%s for linux/amd64 (go install; the first build downloads and compiles its dependencies)", m.Package, m.Version)
		return b.goInstall(ctx, m, flags, bin)
	})
}

func (m Module) buildFlags() []string {
	flags := []string{"-trimpath", "-buildvcs=false", "-ldflags", strings.TrimSpace("-s -w -buildid= " + m.LDFlags)}
	if len(m.Tags) > 0 {
		flags = append(flags, "-tags", strings.Join(m.Tags, ","))
	}
	return flags
}

// env is the build's environment: static linux/amd64, GOFLAGS cleared so a caller's -mod or
// -tags cannot change the binary behind the hash's back, no go.work, and the module's
// toolchain when it names one.
func (m Module) env(extra ...string) []string {
	env := append(crossEnv(), "GOFLAGS=", "GOWORK=off")
	if m.Toolchain != "" {
		env = append(env, "GOTOOLCHAIN="+m.Toolchain)
	}
	return append(env, extra...)
}

// goInstall installs m into a directory of its own and moves the binary to out. It runs
// outside this module, so neither its go.mod nor a go.work applies. A cold build takes
// minutes with no output of its own, so it says every 30 s that it is still at work.
func (b *Builder) goInstall(ctx context.Context, m Module, flags []string, out string) error {
	gobin, err := os.MkdirTemp("", "imagebuild-gobin-")
	if err != nil {
		return fmt.Errorf("create GOBIN: %w", err)
	}
	defer os.RemoveAll(gobin)
	args := append(append([]string{"install"}, flags...), m.Package+"@"+m.Version)
	built := filepath.Join(gobin, filepath.Base(m.Package))
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = gobin
	// GOBIN cannot take a cross-compiled binary: this builds on linux/amd64 hosts only,
	// like the tests that run what it builds.
	cmd.Env = m.env("GOBIN=" + gobin)
	if m.Dir != "" {
		args = append(append([]string{"build"}, flags...), "-o", built, m.Package)
		cmd = exec.CommandContext(ctx, "go", args...)
		cmd.Dir = filepath.Join(b.RepoRoot, m.Dir)
		cmd.Env = m.env()
	}
	began := time.Now()
	ticker := time.NewTicker(30 * time.Second)
	defer ticker.Stop()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-ticker.C:
				b.logf("still compiling %s (%s)", m.Name, time.Since(began).Round(time.Second))
			}
		}
	}()
	if o, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, o)
	}
	b.logf("compiled %s in %s", m.Name, time.Since(began).Round(time.Second))
	if err := os.Rename(built, out); err != nil {
		return fmt.Errorf("move %s: %w", m.Name, err)
	}
	return nil
}

// moduleHash covers what determines the image: the toolchain, the module version (whose
// go.sum, checked against the checksum database, pins every dependency), the build flags,
// the builder's own source and the layout schema.
func (b *Builder) moduleHash(ctx context.Context, m Module, flags []string) (string, error) {
	files, err := b.mainModuleFiles(ctx, builderPackages...)
	if err != nil {
		return "", err
	}
	gover, err := goVersion(ctx)
	if err != nil {
		return "", err
	}
	if m.Toolchain != "" {
		gover = m.Toolchain
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nmodule\n%s\n%s\n%s@%s\n%q\n", schema, gover, m.Name, m.Package, m.Version, flags)
	fmt.Fprintf(h, "created %d\nport %d\ndir %s\n", b.Created.Unix(), m.Port, m.Dir)
	if m.Dir != "" {
		// The small module's go.mod and go.sum pin the build, and its own Go files (a main of
		// ours, as for cert-manager) are part of the binary.
		own, err := dirModuleFiles(filepath.Join(b.RepoRoot, m.Dir))
		if err != nil {
			return "", err
		}
		files = append(files, own...)
	}
	if err := b.hashFiles(h, files); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// dirModuleFiles lists a small module's go.mod, go.sum and Go files other than tests.
func dirModuleFiles(dir string) ([]string, error) {
	files := []string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return files, nil
}
