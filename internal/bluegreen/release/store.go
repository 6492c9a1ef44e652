// Package release is where a release's values live and how the cutover changes them: a
// Store that loads a Snapshot of the values and applies a Change, either as a Helm upgrade
// of the release (HelmStore) or as an edit of the values file a GitOps tool syncs (GitOpsStore).
package release

import (
	"context"
	"fmt"

	"helm.sh/helm/v3/pkg/chart"
	helmrelease "helm.sh/helm/v3/pkg/release"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// Store is where a release's values live and how they change. Every change the
// cutover makes goes through Apply: a Helm upgrade, or an edit of a GitOps values file.
type Store interface {
	// Load reads the current values.
	Load(ctx context.Context) (*Snapshot, error)
	// Apply sets the change over the user's values; description says why, for history.
	Apply(ctx context.Context, snap *Snapshot, change values.Change, description string) error
	// Describe names the store for messages.
	Describe() string
}

// Syncer is a Store whose changes reach the cluster through a GitOps tool that reports its
// progress: Synced says what the tool has still to do for the last change ("" when done).
type Syncer interface {
	Synced(ctx context.Context) (string, error)
}

// Snapshot is the values of a release at one moment.
type Snapshot struct {
	Chart    *chart.Chart
	User     map[string]any // the user-supplied values, kept on every change
	Values   values.Values
	Fullname string
	// Namespace is where the chart's objects live: namespaceOverride, or the release's.
	Namespace string
	Revision  int    // Helm revision; 0 when the store is a values file
	Status    string // Helm status; "" when the store is a values file
	// Latest is the release's latest revision when it was read (Revision is the last
	// deployed one): a write refuses to merge over values a newer revision replaced.
	Latest int
}

// Pending reports a Helm status that means another operation is under way.
func (s *Snapshot) Pending() bool {
	switch helmrelease.Status(s.Status) {
	case helmrelease.StatusPendingInstall, helmrelease.StatusPendingUpgrade, helmrelease.StatusPendingRollback, helmrelease.StatusUninstalling:
		return true
	}
	return false
}

// StaleError: another upgrade of the release landed after the values were read, so a change
// merged over them would undo it. The write is made again over the fresh values.
type StaleError struct {
	Release     string
	Read, Found int    // the revision read, and the latest one now
	Description string // the latest revision's, which says who made it
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("revision %d of release %s (%q) appeared since revision %d was read", e.Found, e.Release, e.Description, e.Read)
}
