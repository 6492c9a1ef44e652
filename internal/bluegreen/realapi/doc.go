// Package realapi holds the cutover's tests against a real control plane: etcd,
// kube-apiserver and kube-controller-manager started on loopback by package testenv, with the
// binaries the node-image build compiles. They find what the unit tests' simulated cluster
// (package fakecluster) hides: Helm's three-way patch dropping spec.replicas and the API
// server defaulting it, real autoscalers, asynchronous controllers, and optimistic
// concurrency on Leases and on Helm's release Secrets.
//
// The tests are behind the build tag apiserver:
//
//	go test -tags apiserver ./internal/bluegreen/realapi/...
//
// No kubelet runs: the tests bind pods to a Node object and report their status themselves,
// and answer probes with the real server's handlers (package server) for each pod.
package realapi
