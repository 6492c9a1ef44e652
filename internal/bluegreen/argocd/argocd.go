// Package argocd reads an Argo CD Application's sync and health, and asks Argo CD to refresh
// it now instead of at its next poll: what the GitOps cutover waits on after each commit.
//
// It goes through the dynamic client: Argo CD's Go types (github.com/argoproj/argo-cd/v3)
// need Go 1.27 and pull in Argo CD's whole dependency tree, and only a handful of status
// fields are read here.
package argocd

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// Applications is the Application resource.
var Applications = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}

// RefreshAnnotation asks the application controller to compare the Application with Git now;
// the controller removes it once done. "normal" re-reads the branch's commit.
const RefreshAnnotation = "argocd.argoproj.io/refresh"

// Status is what an Application reports of its last comparison and sync.
type Status struct {
	Sync     string // Synced, OutOfSync, Unknown
	Revision string // the commit the sync status was compared at
	Health   string // Healthy, Progressing, Degraded, Missing, Suspended, Unknown
	// Operation is the last sync operation's phase (Running, Succeeded, Failed, Error) and
	// OperationRevision the commit it synced; Message says why it failed.
	Operation, OperationRevision, Message string
	// Conditions are the Application's error and warning conditions, "Type: message".
	Conditions []string
	// Unhealthy are its resources whose health is not Healthy, "Kind/name Status: message".
	Unhealthy []string
}

func (s Status) String() string {
	rev := s.Revision
	if len(rev) > 7 {
		rev = rev[:7]
	}
	out := fmt.Sprintf("%s at %s, %s", s.Sync, rev, s.Health)
	if s.Operation != "" && s.Operation != "Succeeded" {
		out += fmt.Sprintf(", sync %s", s.Operation)
		if s.Message != "" {
			out += ": " + s.Message
		}
	}
	for _, c := range s.Conditions {
		out += "; " + c
	}
	if len(s.Unhealthy) > 0 {
		out += " (" + strings.Join(s.Unhealthy, ", ") + ")"
	}
	return out
}

// App is one Application.
type App struct {
	Client    dynamic.Interface
	Namespace string
	Name      string
}

// Get reads the Application's status.
func (a App) Get(ctx context.Context) (Status, *unstructured.Unstructured, error) {
	u, err := a.Client.Resource(Applications).Namespace(a.Namespace).Get(ctx, a.Name, metav1.GetOptions{})
	if err != nil {
		return Status{}, nil, fmt.Errorf("get application %s/%s: %w", a.Namespace, a.Name, err)
	}
	return StatusOf(u), u, nil
}

// StatusOf reads an Application object's status.
func StatusOf(u *unstructured.Unstructured) Status {
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(u.Object, path...)
		return s
	}
	s := Status{
		Sync:              str("status", "sync", "status"),
		Revision:          str("status", "sync", "revision"),
		Health:            str("status", "health", "status"),
		Operation:         str("status", "operationState", "phase"),
		OperationRevision: str("status", "operationState", "syncResult", "revision"),
		Message:           str("status", "operationState", "message"),
	}
	resources, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	for _, r := range resources {
		m, ok := r.(map[string]any)
		if !ok {
			continue
		}
		h, _ := m["health"].(map[string]any)
		if h == nil || h["status"] == "Healthy" {
			continue
		}
		line := fmt.Sprintf("%v/%v %v", m["kind"], m["name"], h["status"])
		if msg, _ := h["message"].(string); msg != "" {
			line += ": " + msg
		}
		s.Unhealthy = append(s.Unhealthy, line)
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok {
			s.Conditions = append(s.Conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
		}
	}
	return s
}

// Refresh asks the controller to compare the Application with Git now (the annotation Argo
// CD's own CLI and UI set), so a commit is synced in seconds, not at the next poll.
func (a App) Refresh(ctx context.Context) error {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"normal"}}}`, RefreshAnnotation)
	_, err := a.Client.Resource(Applications).Namespace(a.Namespace).Patch(ctx, a.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("refresh application %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// Want is a state to wait for; an empty field matches anything.
type Want struct {
	Revision string // the sync status compared at this commit
	Sync     string
	Health   string
}

func (w Want) met(s Status) bool {
	return (w.Revision == "" || s.Revision == w.Revision) &&
		(w.Sync == "" || s.Sync == w.Sync) &&
		(w.Health == "" || s.Health == w.Health)
}

// Wait polls the Application every interval until it reports want, and returns its status.
// It logs each new status it reads (nil logf logs nothing); on timeout the error carries the
// last one.
func (a App) Wait(ctx context.Context, want Want, interval time.Duration, logf func(string, ...any)) (Status, error) {
	var last Status
	var lastLine string
	err := wait.PollUntilContextCancel(ctx, interval, true, func(ctx context.Context) (bool, error) {
		s, _, err := a.Get(ctx)
		if err != nil {
			lastLine = err.Error()
			return false, nil // the controller or API may be restarting; the context bounds it
		}
		last = s
		if line := s.String(); line != lastLine && logf != nil {
			logf("application %s: %s", a.Name, line)
			lastLine = line
		} else {
			lastLine = line
		}
		return want.met(s), nil
	})
	if err != nil {
		return last, fmt.Errorf("application %s/%s did not reach %+v (last: %s): %w", a.Namespace, a.Name, want, lastLine, err)
	}
	return last, nil
}
