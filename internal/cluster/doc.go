// Package cluster gives tests, the demo and `make cluster` one way to get a kind cluster on
// this machine, over sigs.k8s.io/kind/pkg/cluster (not the kind CLI), with no registry.
//
//	c, err := cluster.Ensure(ctx, cluster.Options{})   // create or reuse "ai-assistant"
//	defer c.ExportLogs(dir)                            // on failure, before any delete
//	err = c.LoadImageArchives(ctx, ".cache/images/app.tar")
//	c.Clientset.CoreV1()...                            // client-go, from c.RESTConfig
//	exec.Command(c.Kubectl, "--kubeconfig", c.KubeconfigPath, ...)
//	err = c.Delete()
//
// Ensure starts Docker when it does not answer (hack/docker.sh), picks the node image
// (KIND_NODE_IMAGE if set; kind's stock image if KIND_OFFLINE=0; else the offline image of
// package kindnode, built when missing), creates the named cluster or reuses a healthy one
// (recreating one whose API server no longer answers), writes its kubeconfig to
// <repo>/.cache/kind/<name>/kubeconfig and waits, bounded, until every node is Ready and
// CoreDNS is available.
//
// Every node maps NodePorts 30080-30099 to the same ports on 127.0.0.1 (DefaultPortMappings):
// tests reach a NodePort Service at 127.0.0.1:<nodePort>. 30080 is the chart's main Service in
// tests, 30081 its preview Service. With Workers > 0 the mappings are on the control-plane
// node, and kube-proxy forwards to pods on any node.
//
// The kind config carries a KubeletConfiguration patch failCgroupV1: false (hosts with cgroup
// v1, like this one) and, where the host lacks CAP_SYS_RESOURCE (so hack/docker.sh installed
// the runc wrapper), containerd's restrict_oom_score_adj = true.
package cluster
