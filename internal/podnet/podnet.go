// Package podnet is a small pod-network agent for multi-node kind clusters, doing what kind's
// kindnetd does (kindnetd itself cannot be had here): on each node it writes a CNI bridge
// config for the node's podCIDR, and routes every other node's podCIDR via that node's
// InternalIP. It runs as a hostNetwork DaemonSet (see Manifest) that tolerates not-ready
// nodes, so a node becomes Ready only once its pod network is configured.
package podnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ConfName is the CNI config file the agent owns in the CNI config directory.
const ConfName = "10-kindnet.conflist"

// Route sends traffic for Dst through Gateway (another node's address).
type Route struct {
	Dst     *net.IPNet
	Gateway net.IP
	Node    string
}

func (r Route) String() string { return fmt.Sprintf("%s via %s (%s)", r.Dst, r.Gateway, r.Node) }

// Routes applies and removes routes on this host; netlinkRoutes is the real one.
type Routes interface {
	Replace(r Route) error
	Delete(r Route) error
}

// Agent configures one node's pod network from the API's Node objects.
type Agent struct {
	Client   kubernetes.Interface
	NodeName string
	// ConfDir is the CNI config directory (the host's /etc/cni/net.d, mounted).
	ConfDir string
	Routes  Routes
	// Interval between reconciliations; default 5 s.
	Interval time.Duration
	Logf     func(format string, args ...any)

	applied map[string]Route // routes this agent installed, by destination
}

// Desired returns this node's CNI config and the routes to the other nodes' podCIDRs.
// A node without a podCIDR yet (or, for others, an InternalIP) is left out; for self that is
// an error, since the config cannot be written.
func Desired(self string, nodes []corev1.Node) (string, []Route, error) {
	var conf string
	var routes []Route
	for _, n := range nodes {
		cidr := n.Spec.PodCIDR
		if n.Name == self {
			if cidr == "" {
				return "", nil, fmt.Errorf("node %s has no podCIDR yet", self)
			}
			if _, _, err := net.ParseCIDR(cidr); err != nil {
				return "", nil, fmt.Errorf("node %s podCIDR %q: %w", self, cidr, err)
			}
			conf = BridgeConflist(cidr)
			continue
		}
		if cidr == "" {
			continue
		}
		_, dst, err := net.ParseCIDR(cidr)
		if err != nil || dst.IP.To4() == nil {
			continue // IPv4 only, as the cluster is
		}
		if gw := internalIPv4(n); gw != nil {
			routes = append(routes, Route{Dst: dst, Gateway: gw, Node: n.Name})
		}
	}
	if conf == "" {
		return "", nil, fmt.Errorf("node %s not found", self)
	}
	sort.Slice(routes, func(i, j int) bool { return routes[i].Dst.String() < routes[j].Dst.String() })
	return conf, routes, nil
}

func internalIPv4(n corev1.Node) net.IP {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			if ip := net.ParseIP(a.Address); ip != nil && ip.To4() != nil {
				return ip
			}
		}
	}
	return nil
}

// BridgeConflist is the CNI config for a node: a bridge with host-local addresses from the
// node's podCIDR, masquerading traffic that leaves it, and hostPort support.
func BridgeConflist(podCIDR string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "kindnet",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, podCIDR)
}

// Reconcile makes the node's CNI config and routes match the API once.
func (a *Agent) Reconcile(ctx context.Context) error {
	nodes, err := a.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	conf, routes, err := Desired(a.NodeName, nodes.Items)
	if err != nil {
		return err
	}
	if err := a.writeConf(conf); err != nil {
		return err
	}
	if a.applied == nil {
		a.applied = map[string]Route{}
	}
	want := map[string]Route{}
	for _, r := range routes {
		want[r.Dst.String()] = r
		if old, ok := a.applied[r.Dst.String()]; ok && old.Gateway.Equal(r.Gateway) {
			continue
		}
		if err := a.Routes.Replace(r); err != nil {
			return fmt.Errorf("route %s: %w", r, err)
		}
		a.logf("route %s", r)
		a.applied[r.Dst.String()] = r
	}
	for dst, r := range a.applied {
		if _, ok := want[dst]; ok {
			continue
		}
		if err := a.Routes.Delete(r); err != nil {
			return fmt.Errorf("delete route %s: %w", r, err)
		}
		a.logf("removed route %s", r)
		delete(a.applied, dst)
	}
	return nil
}

// writeConf replaces the CNI config atomically when its content changed.
func (a *Agent) writeConf(conf string) error {
	path := filepath.Join(a.ConfDir, ConfName)
	if have, err := os.ReadFile(path); err == nil && string(have) == conf {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(conf), 0o644); err != nil {
		return fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install CNI config: %w", err)
	}
	a.logf("wrote %s", path)
	return nil
}

func (a *Agent) logf(format string, args ...any) {
	if a.Logf != nil {
		a.Logf(format, args...)
	}
}

// Run reconciles every Interval until ctx ends; failures are logged and retried.
func (a *Agent) Run(ctx context.Context) error {
	interval := a.Interval
	if interval == 0 {
		interval = 5 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := a.Reconcile(ctx); err != nil {
			a.logf("reconcile: %v", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
