package kindnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/podnet"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/retry"
)

// componentImages builds the images kubeadm expects, tagged exactly as it names them.
func (b *Builder) componentImages(ctx context.Context, base string, set ImageSet, k8sBin, etcdBin, corednsBin, ownBin string) error {
	type image struct {
		ref, binDir, binary, dockerfile string
	}
	images := []image{
		{set.APIServer, k8sBin, "kube-apiserver", scratchDockerfile("kube-apiserver", true)},
		{set.ControllerManager, k8sBin, "kube-controller-manager", scratchDockerfile("kube-controller-manager", true)},
		{set.Scheduler, k8sBin, "kube-scheduler", scratchDockerfile("kube-scheduler", true)},
		{set.Etcd, etcdBin, "etcd", scratchDockerfile("etcd", true)},
		{set.CoreDNS, corednsBin, "coredns", scratchDockerfile("coredns", true)},
		{set.Pause, ownBin, "pause", scratchDockerfile("pause", true)},
		{set.PodNet, ownBin, "podnet", scratchDockerfile("podnet", true)},
		{set.Proxy, k8sBin, "kube-proxy", kubeProxyDockerfile(base)},
	}
	return b.steps.Run(ctx, "component-images", func(ctx context.Context, st *debimage.Step) error {
		for _, img := range images {
			dir, err := os.MkdirTemp(b.opts.CacheDir, "image-")
			if err != nil {
				return fmt.Errorf("create build context: %w", err)
			}
			err = func() error {
				defer os.RemoveAll(dir)
				// A hard link keeps a 100 MB binary from being copied just to be sent to dockerd.
				if err := linkOrCopy(filepath.Join(img.binDir, img.binary), filepath.Join(dir, img.binary)); err != nil {
					return err
				}
				files := map[string]string{"Dockerfile": img.dockerfile}
				if img.binary == "kube-proxy" {
					files["kube-proxy-wrapper"] = kubeProxyWrapper
				}
				for name, content := range files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
						return err
					}
				}
				return st.Build(ctx, dir, img.ref)
			}()
			if err != nil {
				return fmt.Errorf("image %s: %w", img.ref, err)
			}
		}
		if set.Sandbox != "" && set.Sandbox != set.Pause {
			return st.Cmd(ctx, nil, "", nil, "docker", "tag", set.Pause, set.Sandbox)
		}
		return nil
	})
}

func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read %s: %w", src, err)
	}
	return os.WriteFile(dst, data, 0o755)
}

// nodeImage runs the node base with containerd as its only process, adds the Kubernetes node
// binaries and kind's /kind files, preloads the component images into containerd's k8s.io
// namespace (pinned, so the kubelet never garbage-collects them), and commits the result.
func (b *Builder) nodeImage(ctx context.Context, nodeBase, tag string, set ImageSet, k8sBin string) error {
	return b.steps.Run(ctx, "node-image", func(ctx context.Context, st *debimage.Step) error {
		name := "ai-assistant-kindnode-build"
		_ = exec.CommandContext(ctx, "docker", "rm", "-f", name).Run()
		if err := st.Cmd(ctx, nil, "", nil, "docker", "run", "-d", "--privileged", "--name", name, "--entrypoint", "containerd", nodeBase); err != nil {
			return err
		}
		defer exec.Command("docker", "rm", "-f", name).Run() //nolint:errcheck // best-effort cleanup

		dir, err := os.MkdirTemp(b.opts.CacheDir, "node-files-")
		if err != nil {
			return fmt.Errorf("create node files directory: %w", err)
		}
		defer os.RemoveAll(dir)
		// No CNI config: each node's podnet agent writes its own from the node's podCIDR, and
		// the node turns Ready only then.
		files := map[string]string{
			"kind/version":                    b.opts.KubernetesVersion,
			"kind/manifests/default-cni.yaml": podnet.Manifest(set.PodNet),
		}
		for rel, content := range files {
			p := filepath.Join(dir, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, "usr", "bin"), 0o755); err != nil {
			return err
		}
		for _, c := range []string{"kubeadm", "kubelet", "kubectl"} {
			if err := linkOrCopy(filepath.Join(k8sBin, c), filepath.Join(dir, "usr", "bin", c)); err != nil {
				return err
			}
		}
		if err := st.Cmd(ctx, nil, "", nil, "docker", "cp", dir+"/.", name+":/"); err != nil {
			return err
		}
		if err := retry.Until(ctx, 60*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			return exec.CommandContext(ctx, "docker", "exec", name, "ctr", "version").Run()
		}); err != nil {
			return fmt.Errorf("containerd in the build container did not answer: %w", err)
		}
		save := fmt.Sprintf("docker save %s | docker exec -i %s ctr -n k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests -",
			strings.Join(set.All(), " "), name)
		if err := st.Cmd(ctx, nil, "", nil, "bash", "-o", "pipefail", "-c", save); err != nil {
			return err
		}
		if err := st.Cmd(ctx, nil, "", nil, "docker", "exec", name, "ctr", "-n", "k8s.io", "images", "ls", "-q"); err != nil {
			return err
		}
		// containerd shuts down cleanly on SIGTERM; the image's stop signal is systemd's.
		if err := st.Cmd(ctx, nil, "", nil, "docker", "kill", "--signal", "TERM", name); err != nil {
			return err
		}
		if err := retry.Until(ctx, 60*time.Second, 250*time.Millisecond, func(ctx context.Context) error {
			out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.State.Running}}", name).Output()
			if err != nil || strings.TrimSpace(string(out)) != "false" {
				return fmt.Errorf("still running")
			}
			return nil
		}); err != nil {
			return fmt.Errorf("containerd in the build container did not stop: %w", err)
		}
		// ENV container=docker and STOPSIGNAL come from the node base (docker 20.10's commit
		// cannot set STOPSIGNAL); only the entrypoint the build overrode is put back.
		return st.Cmd(ctx, nil, "", nil, "docker", "commit",
			"--change", `ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]`,
			name, tag)
	})
}

// Kubectl returns the path of a kubectl of the node image's Kubernetes version: the one the
// build made, or else one copied out of the node image tag (which must exist).
func (b *Builder) Kubectl(ctx context.Context, tag string) (string, error) {
	built := filepath.Join(b.opts.CacheDir, "bin", "kubernetes-"+b.opts.KubernetesVersion, "kubectl")
	if _, err := os.Stat(built); err == nil {
		return built, nil
	}
	dir, err := b.dir("bin", "kubectl-"+b.opts.KubernetesVersion)
	if err != nil {
		return "", err
	}
	dst := filepath.Join(dir, "kubectl")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	out, err := exec.CommandContext(ctx, "docker", "create", tag).Output()
	if err != nil {
		return "", fmt.Errorf("create a container of %s to copy kubectl from: %w", tag, err)
	}
	id := strings.TrimSpace(string(out))
	defer exec.Command("docker", "rm", "-f", id).Run() //nolint:errcheck // best-effort cleanup
	if out, err := exec.CommandContext(ctx, "docker", "cp", id+":/usr/bin/kubectl", dst).CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy kubectl out of %s: %w: %s", tag, err, out)
	}
	return dst, nil
}
