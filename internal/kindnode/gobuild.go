package kindnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
)

// goProgram is a set of main packages built from one module version in a scratch module.
type goProgram struct {
	step     string            // step name, also the scratch module's directory name
	module   string            // module to require
	version  string            // its exact version
	replace  map[string]string // go.mod replacements
	binaries map[string]string // output name -> main package
	ldflags  string
}

// build writes the scratch module, resolves it and builds the binaries into a directory it
// returns, skipping all of it when a stamp says the same inputs were built there before.
func (b *Builder) build(ctx context.Context, p goProgram) (string, error) {
	src, err := b.dir("src", p.step)
	if err != nil {
		return "", err
	}
	out, err := b.dir("bin", p.step+"-"+p.version)
	if err != nil {
		return "", err
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return "", err
	}
	goMod := ScratchGoMod("kindnode.local/"+p.step, strings.TrimPrefix(goVersion, "go"), p.module, p.version, p.replace)
	stamp := goMod + "\nldflags " + p.ldflags + "\n" + fmt.Sprint(p.binaries)
	if have, err := os.ReadFile(filepath.Join(out, ".stamp")); err == nil && string(have) == stamp && allExist(out, p.binaries) {
		b.steps.Logf("%s %s binaries exist in %s: skipping", p.step, p.version, out)
		return out, nil
	}
	err = b.steps.Run(ctx, p.step, func(ctx context.Context, st *debimage.Step) error {
		pkgs := make([]string, 0, len(p.binaries))
		for _, pkg := range p.binaries {
			pkgs = append(pkgs, pkg)
		}
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(goMod), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(ToolsGo(pkgs)), 0o644); err != nil {
			return err
		}
		_ = os.Remove(filepath.Join(src, "go.sum"))
		// GOTOOLCHAIN=local: no toolchain can be downloaded here. -e: test-only dependencies of
		// these modules may not resolve, and the build needs none of them.
		env := []string{"GOFLAGS=-mod=mod -buildvcs=false", "GOWORK=off", "CGO_ENABLED=0", "GOTOOLCHAIN=local"}
		if err := st.Cmd(ctx, nil, src, env, "go", "mod", "tidy", "-e"); err != nil {
			return err
		}
		for name, pkg := range p.binaries {
			args := []string{"build", "-trimpath", "-ldflags", "-s -w " + p.ldflags, "-o", filepath.Join(out, name), pkg}
			if err := st.Cmd(ctx, nil, src, env, "go", args...); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(out, ".stamp"), []byte(stamp), 0o644)
	})
	return out, err
}

func allExist(dir string, binaries map[string]string) bool {
	for name := range binaries {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// kubernetes builds the seven Kubernetes commands. One `go build` of all of them would share
// work, but builds one at a time share it through the build cache just as well.
func (b *Builder) kubernetes(ctx context.Context) (string, error) {
	v := b.opts.KubernetesVersion
	staging, err := StagingVersion(v)
	if err != nil {
		return "", err
	}
	src, err := b.dir("src", "kubernetes")
	if err != nil {
		return "", err
	}
	mi, err := downloadModule(ctx, src, "k8s.io/kubernetes", v)
	if err != nil {
		return "", err
	}
	modFile, err := os.ReadFile(mi.GoMod)
	if err != nil {
		return "", fmt.Errorf("read k8s.io/kubernetes go.mod: %w", err)
	}
	replace := map[string]string{}
	for _, m := range StagingModules(modFile) {
		replace[m] = m + " " + staging
	}
	if len(replace) == 0 {
		return "", errors.New("k8s.io/kubernetes go.mod replaces no staging modules: cannot pin them")
	}
	major, minor, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	ldflags := strings.Join([]string{
		"-X k8s.io/component-base/version.gitVersion=" + v,
		"-X k8s.io/component-base/version.gitMajor=" + major,
		"-X k8s.io/component-base/version.gitMinor=" + minor,
		"-X k8s.io/component-base/version.gitTreeState=clean",
		"-X k8s.io/client-go/pkg/version.gitVersion=" + v,
		"-X k8s.io/client-go/pkg/version.gitMajor=" + major,
		"-X k8s.io/client-go/pkg/version.gitMinor=" + minor,
	}, " ")
	bins := map[string]string{}
	for _, c := range kubernetesCommands {
		bins[c] = "k8s.io/kubernetes/cmd/" + c
	}
	return b.build(ctx, goProgram{step: "kubernetes", module: "k8s.io/kubernetes", version: v, replace: replace, binaries: bins, ldflags: ldflags})
}

func (b *Builder) etcd(ctx context.Context, ref string) (string, error) {
	v, err := EtcdModuleVersion(ref)
	if err != nil {
		return "", err
	}
	return b.build(ctx, goProgram{step: "etcd", module: "go.etcd.io/etcd/server/v3", version: v,
		binaries: map[string]string{"etcd": "go.etcd.io/etcd/server/v3"}})
}

func (b *Builder) coredns(ctx context.Context, ref string) (string, error) {
	v, err := CoreDNSModuleVersion(ref)
	if err != nil {
		return "", err
	}
	return b.build(ctx, goProgram{step: "coredns", module: "github.com/coredns/coredns", version: v,
		binaries: map[string]string{"coredns": "github.com/coredns/coredns"}})
}

// ownBinaries builds this repository's node programs: the pause binary and the podnet agent.
func (b *Builder) ownBinaries(ctx context.Context) (string, error) {
	out, err := b.dir("bin", "own")
	if err != nil {
		return "", err
	}
	return out, b.steps.Run(ctx, "pause-podnet", func(ctx context.Context, st *debimage.Step) error {
		for name, pkg := range map[string]string{"pause": "./hack/kindnode/pause", "podnet": "./cmd/podnet"} {
			if err := st.Cmd(ctx, nil, b.opts.RepoRoot, []string{"CGO_ENABLED=0", "GOFLAGS=-buildvcs=false"},
				"go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(out, name), pkg); err != nil {
				return err
			}
		}
		return nil
	})
}

// imageList asks the built kubeadm which images it expects, and kind's containerd config
// which sandbox image it runs.
func (b *Builder) imageList(ctx context.Context, k8sBin string, kind moduleInfo) (ImageSet, error) {
	var set ImageSet
	err := b.steps.Run(ctx, "images-list", func(ctx context.Context, st *debimage.Step) error {
		out, err := st.Output(ctx, filepath.Join(k8sBin, "kubeadm"), "config", "images", "list", "--kubernetes-version", b.opts.KubernetesVersion)
		if err != nil {
			return err
		}
		if set, err = ParseImageList(out); err != nil {
			return err
		}
		toml, err := os.ReadFile(filepath.Join(kind.Dir, "images", "base", "files", "etc", "containerd", "config.toml"))
		if err != nil {
			return fmt.Errorf("read kind's containerd config: %w", err)
		}
		set.Sandbox = SandboxImage(string(toml))
		st.Log("images: %v", set.All())
		return nil
	})
	if err == nil {
		b.steps.Logf("kubeadm expects %s", strings.Join(set.All(), " "))
	}
	return set, err
}
