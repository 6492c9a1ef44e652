// Package gate holds the checks a cutover waits on: a colour's rollout, its health
// endpoints, the Service's endpoints, and the request rate its metrics show. Pods
// and Services are reached through an injected Prober so the checks run the same
// against a cluster (through the API server's proxy) and in unit tests.
package gate

import (
	"context"
	"fmt"
	"net/http"
)

// Prober sends one GET to a pod's port or a Service's port and returns what came back.
// A transport failure is an error; any HTTP status is a Response.
type Prober interface {
	Pod(ctx context.Context, namespace, pod, port, path string) (*Response, error)
	Service(ctx context.Context, namespace, service, port, path string) (*Response, error)
}

// Response is one probe's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Target names something a probe is sent to, for messages.
type Target struct {
	Kind string // "pod" or "service"
	Name string
	Port string
}

func (t Target) String() string { return fmt.Sprintf("%s/%s:%s", t.Kind, t.Name, t.Port) }

// Get probes path on the target.
func (t Target) Get(ctx context.Context, p Prober, namespace, path string) (*Response, error) {
	if t.Kind == "service" {
		return p.Service(ctx, namespace, t.Name, t.Port, path)
	}
	return p.Pod(ctx, namespace, t.Name, t.Port, path)
}
