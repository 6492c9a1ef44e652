package kindnode

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
)

// ControlPlane are the paths of the binaries a test's control plane runs on loopback (package
// testenv's StartKubeAPI).
type ControlPlane struct {
	KubeAPIServer, KubeControllerManager, Etcd string
}

// ControlPlaneBinaries builds the Kubernetes commands and the etcd the node image runs, without
// the image, into the same cache directories and under the same stamps as Build: whichever of
// the two runs first builds them, and the other finds them.
func ControlPlaneBinaries(ctx context.Context, o Options) (ControlPlane, error) {
	b := New(o)
	k8sBin, err := b.kubernetes(ctx)
	if err != nil {
		return ControlPlane{}, err
	}
	etcdRef, err := b.etcdImage(ctx, k8sBin)
	if err != nil {
		return ControlPlane{}, err
	}
	etcdBin, err := b.etcd(ctx, etcdRef)
	if err != nil {
		return ControlPlane{}, err
	}
	return ControlPlane{
		KubeAPIServer:         filepath.Join(k8sBin, "kube-apiserver"),
		KubeControllerManager: filepath.Join(k8sBin, "kube-controller-manager"),
		Etcd:                  filepath.Join(etcdBin, "etcd"),
	}, nil
}

// etcdImage is the etcd image kubeadm names for the Kubernetes version: its tag is the etcd
// version the node image runs.
func (b *Builder) etcdImage(ctx context.Context, k8sBin string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(k8sBin, "kubeadm"), "config", "images", "list", "--kubernetes-version", b.opts.KubernetesVersion).Output()
	if err != nil {
		return "", fmt.Errorf("kubeadm config images list: %w", err)
	}
	set, err := ParseImageList(string(out))
	if err != nil {
		return "", err
	}
	return set.Etcd, nil
}
