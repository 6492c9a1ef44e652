package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/constants"
	"sigs.k8s.io/kind/pkg/cluster/nodes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kindnode"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/retry"
)

// DefaultName is the cluster the project's tests and demo share.
const DefaultName = "ai-assistant"

// Options configures Ensure; zero values take the defaults named beside each field.
type Options struct {
	// Name of the kind cluster; default DefaultName.
	Name string
	// Workers is the number of worker nodes beside the control plane; default 0.
	Workers int
	// NodeImage overrides the node image; default $KIND_NODE_IMAGE, else kind's stock image
	// when KIND_OFFLINE=0, else the offline image (built when missing).
	NodeImage string
	// PortMappings on the control-plane node; default DefaultPortMappings().
	PortMappings []PortMapping
	// RepoRoot is the repository checkout; default found from the working directory.
	RepoRoot string
	// Logger prints progress lines; nil prints nothing.
	Logger func(format string, args ...any)
	// ReadyTimeout bounds the wait for nodes and CoreDNS; default 5 minutes.
	ReadyTimeout time.Duration
}

// Cluster is a running kind cluster.
type Cluster struct {
	Name string
	// KubeconfigPath is <repo>/.cache/kind/<name>/kubeconfig.
	KubeconfigPath string
	// Kubectl is a kubectl of the node's Kubernetes version (never the machine's own).
	Kubectl string
	// NodeImage the cluster was created from (empty when reused).
	NodeImage  string
	RESTConfig *rest.Config
	Clientset  *kubernetes.Clientset

	provider *kindcluster.Provider
	logf     func(format string, args ...any)
	start    time.Time
}

func (o *Options) defaults() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.PortMappings == nil {
		o.PortMappings = DefaultPortMappings()
	}
	if o.RepoRoot == "" {
		root, err := kindnode.FindRepoRoot()
		if err != nil {
			return err
		}
		o.RepoRoot = root
	}
	if o.Logger == nil {
		o.Logger = func(string, ...any) {}
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	return nil
}

func (c *Cluster) log(format string, args ...any) {
	c.logf("[%5.1fs] %s", time.Since(c.start).Seconds(), fmt.Sprintf(format, args...))
}

// newHandle returns a Cluster for name without touching Docker.
func newHandle(o Options) *Cluster {
	return &Cluster{
		Name:           o.Name,
		KubeconfigPath: filepath.Join(o.RepoRoot, ".cache", "kind", o.Name, "kubeconfig"),
		provider:       kindcluster.NewProvider(kindcluster.ProviderWithDocker(), kindcluster.ProviderWithLogger(kindLogger{o.Logger})),
		logf:           o.Logger,
		start:          time.Now(),
	}
}

// Ensure creates the named cluster, or reuses it when it exists and answers, and returns it
// once every node is Ready and CoreDNS is available.
func Ensure(ctx context.Context, o Options) (*Cluster, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	c := newHandle(o)
	if err := ensureDocker(ctx, c, o.RepoRoot); err != nil {
		return nil, err
	}
	unlock, err := lock(ctx, o.RepoRoot, c.log)
	if err != nil {
		return nil, err
	}
	defer unlock()
	builder := kindnode.New(kindnode.Options{RepoRoot: o.RepoRoot, Logf: o.Logger})
	image, offline, err := pickImage(ctx, o, builder)
	if err != nil {
		return nil, err
	}

	existing, err := c.provider.List()
	if err != nil {
		return nil, fmt.Errorf("list kind clusters: %w", err)
	}
	if slices.Contains(existing, o.Name) {
		reused, err := c.reuse(ctx, o, image)
		if err != nil {
			return nil, err
		}
		if !reused {
			existing = nil
		}
	}
	created := !slices.Contains(existing, o.Name)
	if created {
		if err := c.create(ctx, o, image); err != nil {
			return nil, err
		}
	}
	if err := c.connect(); err != nil {
		return nil, err
	}
	if c.Kubectl, err = kubectlFor(ctx, builder, image, offline); err != nil {
		return nil, err
	}
	// A healthy reused cluster is ready at once: do not wait long before making it anew.
	timeout := o.ReadyTimeout
	if !created && timeout > 90*time.Second {
		timeout = 90 * time.Second
	}
	if err := c.waitReady(ctx, o.Workers+1, timeout); err != nil {
		if created {
			return nil, err
		}
		// A reused cluster whose API answers but whose nodes do not come Ready (say its node
		// containers restarted with dockerd) is made anew once.
		c.log("reused cluster %s is not ready (%v): deleting it to create it anew", c.Name, err)
		if err := c.Delete(); err != nil {
			return nil, err
		}
		if err := c.create(ctx, o, image); err != nil {
			return nil, err
		}
		if err := c.connect(); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, o.Workers+1, o.ReadyTimeout); err != nil {
			return nil, err
		}
	}
	c.log("cluster %s ready (kubeconfig %s)", c.Name, c.KubeconfigPath)
	return c, nil
}

// ensureDocker starts Docker through hack/docker.sh when it does not answer.
func ensureDocker(ctx context.Context, c *Cluster, root string) error {
	if exec.CommandContext(ctx, "docker", "info").Run() == nil {
		return nil
	}
	c.log("docker does not answer: running hack/docker.sh")
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "docker.sh"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("start docker with hack/docker.sh: %w", err)
	}
	return nil
}

// pickImage returns the node image and whether it is the offline one.
func pickImage(ctx context.Context, o Options, b *kindnode.Builder) (string, bool, error) {
	switch {
	case o.NodeImage != "":
		return o.NodeImage, false, nil
	case os.Getenv("KIND_NODE_IMAGE") != "":
		return os.Getenv("KIND_NODE_IMAGE"), false, nil
	case os.Getenv("KIND_OFFLINE") == "0":
		return stockImage, false, nil
	}
	tag, err := b.Build(ctx)
	if err != nil {
		return "", false, fmt.Errorf("build the offline node image: %w", err)
	}
	return tag, true, nil
}

// reuse exports the kubeconfig of an existing cluster and checks its API server answers; a
// cluster whose nodes stopped (say dockerd restarted), or that runs another node image than
// image, is deleted so it can be made anew.
func (c *Cluster) reuse(ctx context.Context, o Options, image string) (bool, error) {
	nodes, err := c.provider.ListNodes(o.Name)
	if err != nil {
		return false, fmt.Errorf("list nodes of cluster %s: %w", o.Name, err)
	}
	if len(nodes) != o.Workers+1 {
		return false, fmt.Errorf("cluster %s exists with %d nodes, want %d: delete it first (make cluster-down)", o.Name, len(nodes), o.Workers+1)
	}
	images, err := nodeImages(ctx, nodes)
	if err != nil {
		return false, err
	}
	if stale := staleNodes(images, image); len(stale) > 0 {
		c.log("cluster %s runs an older node image (%s), not %s: deleting it to create it anew", o.Name, strings.Join(stale, ", "), image)
		if err := c.Delete(); err != nil {
			return false, err
		}
		return false, nil
	}
	if missing, err := missingPorts(ctx, nodes, o.PortMappings); err != nil {
		return false, err
	} else if len(missing) > 0 {
		// Docker fixes a container's port bindings when it creates it: a cluster made by an
		// older checkout with fewer mappings can only be made anew.
		c.log("cluster %s does not map %s: deleting it to create it anew", o.Name, strings.Join(missing, ", "))
		if err := c.Delete(); err != nil {
			return false, err
		}
		return false, nil
	}
	if err := c.exportKubeconfig(); err == nil {
		if err := c.connect(); err == nil {
			if err := retry.Until(ctx, 30*time.Second, 500*time.Millisecond, func(ctx context.Context) error {
				_, err := c.Clientset.Discovery().ServerVersion()
				return err
			}); err == nil {
				c.log("reusing cluster %s", o.Name)
				return true, nil
			}
		}
	}
	c.log("cluster %s exists but does not answer: deleting it to create it anew", o.Name)
	if err := c.Delete(); err != nil {
		return false, err
	}
	return false, nil
}

// nodeImages reads the image each node container was created from.
func nodeImages(ctx context.Context, ns []nodes.Node) (map[string]string, error) {
	images := map[string]string{}
	for _, n := range ns {
		out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{.Config.Image}}", n.String()).Output()
		if err != nil {
			return nil, fmt.Errorf("docker inspect node %s: %w", n, err)
		}
		images[n.String()] = strings.TrimSpace(string(out))
	}
	return images, nil
}

// portBinding is one host binding of a container port, as `docker inspect` prints it.
type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// missingPorts lists the mappings of want that the control-plane container does not bind.
func missingPorts(ctx context.Context, ns []nodes.Node, want []PortMapping) ([]string, error) {
	for _, n := range ns {
		role, err := n.Role()
		if err != nil {
			return nil, fmt.Errorf("role of node %s: %w", n, err)
		}
		if role != constants.ControlPlaneNodeRoleValue {
			continue
		}
		out, err := exec.CommandContext(ctx, "docker", "inspect", "--format", "{{json .HostConfig.PortBindings}}", n.String()).Output()
		if err != nil {
			return nil, fmt.Errorf("docker inspect node %s: %w", n, err)
		}
		var bound map[string][]portBinding
		if err := json.Unmarshal(out, &bound); err != nil {
			return nil, fmt.Errorf("port bindings of node %s: %w", n, err)
		}
		return unboundMappings(bound, want), nil
	}
	return nil, errors.New("the cluster has no control-plane node")
}

// unboundMappings lists, as "address:port", the mappings of want that bound lacks.
func unboundMappings(bound map[string][]portBinding, want []PortMapping) []string {
	var missing []string
	for _, m := range want {
		ok := slices.ContainsFunc(bound[fmt.Sprintf("%d/tcp", m.ContainerPort)], func(b portBinding) bool {
			return b.HostPort == fmt.Sprint(m.HostPort) && b.HostIP == m.ListenAddress
		})
		if !ok {
			missing = append(missing, fmt.Sprintf("%s:%d", m.ListenAddress, m.HostPort))
		}
	}
	return missing
}

// staleNodes lists, as "node: image", the nodes created from another image than want: a
// cluster made from a node image whose inputs have changed since is not what was just built,
// and a warm machine would otherwise go on testing the old one.
func staleNodes(images map[string]string, want string) []string {
	var stale []string
	for _, n := range slices.Sorted(maps.Keys(images)) {
		if images[n] != want {
			stale = append(stale, n+": "+images[n])
		}
	}
	return stale
}

func (c *Cluster) exportKubeconfig() error {
	if err := os.MkdirAll(filepath.Dir(c.KubeconfigPath), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	if err := c.provider.ExportKubeConfig(c.Name, c.KubeconfigPath, false); err != nil {
		return fmt.Errorf("export kubeconfig of cluster %s: %w", c.Name, err)
	}
	return nil
}

func (c *Cluster) create(ctx context.Context, o Options, image string) error {
	restrictOOM, err := HostLacksSysResource()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.KubeconfigPath), 0o700); err != nil {
		return fmt.Errorf("create kubeconfig directory: %w", err)
	}
	c.log("creating cluster %s (%d worker(s)) from %s", o.Name, o.Workers, image)
	began := time.Now()
	cfg := KindConfig(o.Name, image, o.Workers, o.PortMappings, restrictOOM)
	err = c.provider.Create(o.Name,
		kindcluster.CreateWithV1Alpha4Config(cfg),
		kindcluster.CreateWithNodeImage(image),
		kindcluster.CreateWithKubeconfigPath(c.KubeconfigPath),
		kindcluster.CreateWithWaitForReady(o.ReadyTimeout),
		kindcluster.CreateWithDisplayUsage(false),
		kindcluster.CreateWithDisplaySalutation(false),
	)
	if err != nil {
		return fmt.Errorf("create kind cluster %s: %w", o.Name, err)
	}
	c.NodeImage = image
	c.log("cluster %s created in %s", o.Name, time.Since(began).Round(100*time.Millisecond))
	return nil
}

func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.KubeconfigPath)
	if err != nil {
		return fmt.Errorf("load kubeconfig %s: %w", c.KubeconfigPath, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("make client for cluster %s: %w", c.Name, err)
	}
	c.RESTConfig, c.Clientset = cfg, cs
	return nil
}

func kubectlFor(ctx context.Context, b *kindnode.Builder, image string, offline bool) (string, error) {
	if offline {
		return b.Kubectl(ctx, image)
	}
	// A stock image holds kubectl as well: copying it out needs only the local image.
	if debimage.ImageExists(ctx, image) {
		return b.Kubectl(ctx, image)
	}
	return "", fmt.Errorf("no kubectl for node image %s", image)
}

// waitReady waits until want nodes are Ready and CoreDNS has an available replica.
func (c *Cluster) waitReady(ctx context.Context, want int, timeout time.Duration) error {
	began := time.Now()
	err := retry.Until(ctx, timeout, 500*time.Millisecond, func(ctx context.Context) error {
		nodes, err := c.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list nodes: %w", err)
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready < want {
			return fmt.Errorf("%d of %d nodes Ready", ready, want)
		}
		var dns *appsv1.Deployment
		if dns, err = c.Clientset.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get coredns deployment: %w", err)
		}
		if dns.Status.AvailableReplicas < 1 {
			return fmt.Errorf("coredns has no available replica")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wait for cluster %s to be ready: %w", c.Name, err)
	}
	c.log("nodes Ready and CoreDNS available after %s", time.Since(began).Round(100*time.Millisecond))
	return nil
}

// ExportLogs writes the nodes' logs (kubelet, containerd, pods) under dir.
func (c *Cluster) ExportLogs(dir string) error {
	if err := c.provider.CollectLogs(c.Name, dir); err != nil {
		// The node image has no crictl (not in Debian 12, not served): kind's `crictl images`
		// fails on every node while every other log is written. Only other failures count.
		if !onlyCrictlFailures(err) {
			return fmt.Errorf("export logs of cluster %s to %s: %w", c.Name, dir, err)
		}
	}
	c.log("exported logs of cluster %s to %s", c.Name, dir)
	return nil
}

// Pause freezes the cluster's node containers (`docker pause`): their processes stop using
// CPU, while their network, ports and state stay as they are until Delete.
func (c *Cluster) Pause(ctx context.Context) error {
	ns, err := c.provider.ListNodes(c.Name)
	if err != nil {
		return fmt.Errorf("list the nodes of cluster %s: %w", c.Name, err)
	}
	args := []string{"pause"}
	for _, n := range ns {
		args = append(args, n.String())
	}
	if out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("docker pause the nodes of cluster %s: %w: %s", c.Name, err, bytes.TrimSpace(out))
	}
	c.log("paused the %d node(s) of cluster %s", len(ns), c.Name)
	return nil
}

// Delete removes the cluster and its kubeconfig.
func (c *Cluster) Delete() error {
	began := time.Now()
	if err := c.provider.Delete(c.Name, c.KubeconfigPath); err != nil {
		return fmt.Errorf("delete kind cluster %s: %w", c.Name, err)
	}
	_ = os.Remove(c.KubeconfigPath)
	c.log("deleted cluster %s in %s", c.Name, time.Since(began).Round(100*time.Millisecond))
	return nil
}

// Delete removes the named cluster (DefaultName when empty) if it exists, building nothing.
func Delete(ctx context.Context, o Options) error {
	if err := o.defaults(); err != nil {
		return err
	}
	c := newHandle(o)
	if exec.CommandContext(ctx, "docker", "info").Run() != nil {
		c.log("docker does not answer: no cluster to delete")
		return nil
	}
	existing, err := c.provider.List()
	if err != nil {
		return fmt.Errorf("list kind clusters: %w", err)
	}
	if !slices.Contains(existing, o.Name) {
		c.log("no cluster %s to delete", o.Name)
		return nil
	}
	return c.Delete()
}

// onlyCrictlFailures reports whether every error kind aggregated is a failed crictl command.
func onlyCrictlFailures(err error) bool {
	msg := strings.Trim(err.Error(), "[]")
	for _, part := range strings.Split(msg, ", command ") {
		if !strings.Contains(part, " crictl ") {
			return false
		}
	}
	return true
}
