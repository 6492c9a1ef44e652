package kindnode

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
)

// kubernetesCommands are the binaries built from k8s.io/kubernetes.
var kubernetesCommands = []string{"kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"}

// SourceDirs are the repository directories whose Go files are inputs of the node image. The
// debian base is an input through its tag; of package debimage only the docker build shapes
// the image.
var SourceDirs = []string{"internal/kindnode", "hack/kindnode/pause", "internal/podnet", "cmd/podnet", "internal/debimage/docker.go"}

// Tag returns the node image's tag for the current inputs, without building anything.
func (b *Builder) Tag(ctx context.Context) (string, error) {
	kind, err := mainModuleDep(ctx, b.opts.RepoRoot, kindModule)
	if err != nil {
		return "", err
	}
	goVersion, err := goEnv(ctx, "GOVERSION")
	if err != nil {
		return "", err
	}
	baseTag, err := debimage.BaseTag(b.opts.Base)
	if err != nil {
		return "", err
	}
	files, err := sourceFiles(b.opts.RepoRoot, SourceDirs)
	if err != nil {
		return "", err
	}
	h, err := debimage.Inputs{
		Values: map[string]string{
			"kubernetes": b.opts.KubernetesVersion,
			"kind":       kind.Version,
			"go":         goVersion,
			"base":       baseTag,
			"packages":   strings.Join(NodePackages, " "),
		},
		Files: files,
		Root:  b.opts.RepoRoot,
	}.Hash(12)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%s-%s", b.opts.Repository, b.opts.KubernetesVersion, h), nil
}

// sourceFiles lists the non-test Go files under dirs (a directory or a file), relative to root.
func sourceFiles(root string, dirs []string) ([]string, error) {
	var files []string
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			// Tests and package docs do not shape the image.
			if e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || e.Name() == "doc.go" {
				return nil
			}
			rel, err := filepath.Rel(root, p)
			files = append(files, rel)
			return err
		})
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("list builder sources in %s: %w", d, err)
		}
	}
	return files, nil
}

func goEnv(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Build builds every missing part of the node image and returns its tag; when the tag
// already exists it returns at once.
func (b *Builder) Build(ctx context.Context) (string, error) {
	began := time.Now()
	tag, err := b.Tag(ctx)
	if err != nil {
		return "", fmt.Errorf("compute node image tag: %w", err)
	}
	if debimage.ImageExists(ctx, tag) {
		b.steps.Logf("node image %s exists: skipping the build", tag)
		return tag, nil
	}
	b.steps.Logf("building node image %s (logs in %s)", tag, filepath.Join(b.opts.CacheDir, "logs"))
	if err := b.buildNode(ctx, tag); err != nil {
		return "", err
	}
	b.steps.Logf("node image %s built in %s (%d MB)", tag, time.Since(began).Round(time.Second), debimage.ImageSize(ctx, tag)>>20)
	b.pruneOld(ctx, tag)
	return tag, nil
}

// pruneOld removes older node images (1.4 GB each); one a cluster still runs on stays, since
// docker refuses to remove an image in use without force.
func (b *Builder) pruneOld(ctx context.Context, keep string) {
	tag := keep[strings.LastIndex(keep, ":")+1:]
	for _, repo := range []string{b.opts.Repository, podnetRepository} {
		out, err := exec.CommandContext(ctx, "docker", "images", repo, "--format", "{{.Repository}}:{{.Tag}}").Output()
		if err != nil {
			continue
		}
		for _, ref := range strings.Fields(string(out)) {
			if !strings.HasSuffix(ref, ":"+tag) && exec.CommandContext(ctx, "docker", "rmi", ref).Run() == nil {
				b.steps.Logf("removed old image %s", ref)
			}
		}
	}
}

// podnetRepository names the pod-network agent's image; its tag is the node image's.
const podnetRepository = "ai-assistant-podnet"

func (b *Builder) buildNode(ctx context.Context, tag string) error {
	kind, err := mainModuleDep(ctx, b.opts.RepoRoot, kindModule)
	if err != nil {
		return err
	}
	base, err := debimage.EnsureBase(ctx, b.steps, b.opts.Base)
	if err != nil {
		return err
	}
	nodeBase, err := b.nodeBase(ctx, base, kind)
	if err != nil {
		return err
	}
	k8sBin, err := b.kubernetes(ctx)
	if err != nil {
		return err
	}
	images, err := b.imageList(ctx, k8sBin, kind)
	if err != nil {
		return err
	}
	etcdBin, err := b.etcd(ctx, images.Etcd)
	if err != nil {
		return err
	}
	corednsBin, err := b.coredns(ctx, images.CoreDNS)
	if err != nil {
		return err
	}
	ownBin, err := b.ownBinaries(ctx)
	if err != nil {
		return err
	}
	// The agent's image is named after the node image, so each node image preloads its own.
	images.PodNet = podnetRepository + ":" + tag[strings.LastIndex(tag, ":")+1:]
	if err := b.componentImages(ctx, base, images, k8sBin, etcdBin, corednsBin, ownBin); err != nil {
		return err
	}
	return b.nodeImage(ctx, nodeBase, tag, images, k8sBin)
}

// nodeBase builds the node's OS image with kind's node files from the kind module.
func (b *Builder) nodeBase(ctx context.Context, base string, kind moduleInfo) (string, error) {
	h, err := debimage.Inputs{Values: map[string]string{
		"dockerfile": nodeBaseDockerfile(base), "kind": kind.Version,
	}}.Hash(12)
	if err != nil {
		return "", err
	}
	tag := "ai-assistant-kind-base:" + h
	if debimage.ImageExists(ctx, tag) {
		b.steps.Logf("node base %s exists: skipping", tag)
		return tag, nil
	}
	return tag, b.steps.Run(ctx, "node-base", func(ctx context.Context, st *debimage.Step) error {
		dir, err := os.MkdirTemp(b.opts.CacheDir, "node-base-")
		if err != nil {
			return fmt.Errorf("create build context: %w", err)
		}
		defer os.RemoveAll(dir)
		// The module cache is read-only: copy with the modes the node needs.
		src := filepath.Join(kind.Dir, "images", "base", "files")
		if err := copyTree(src, filepath.Join(dir, "files"), func(rel string) os.FileMode {
			if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
				return 0o755
			}
			return 0o644
		}); err != nil {
			return fmt.Errorf("copy kind node files from %s: %w", src, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(nodeBaseDockerfile(base)), 0o644); err != nil {
			return err
		}
		return st.Build(ctx, dir, tag)
	})
}

// copyTree copies the regular files under src to dst, each with the mode mode(rel) gives.
func copyTree(src, dst string, mode func(rel string) os.FileMode) error {
	return filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if e.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, mode(filepath.ToSlash(rel)))
	})
}
