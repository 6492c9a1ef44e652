package release

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
	"helm.sh/helm/v3/pkg/storage/driver"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// HelmStore keeps the values in a Helm release and changes them by upgrading it
// with the release's own chart and its user values plus the change, like
// `helm upgrade --reuse-values --set`: `helm get values` and `helm history` stay true.
type HelmStore struct {
	Helm      *action.Configuration
	Release   string
	Namespace string
	// MaxHistory bounds stored revisions: each cutover step is one revision.
	MaxHistory int
	// Timeout bounds one upgrade.
	Timeout time.Duration
}

// DefaultHistoryMax keeps the revisions of at least ten cutovers: each takes up to five
// (prepare, switch, record the scale-down deadline, finalize, and a switch back or a gate
// failure's scale-down). Helm's own default of 10 kept only two, too few to roll back to.
const DefaultHistoryMax = 50

// NewHelmStore returns a store that keeps DefaultHistoryMax revisions.
func NewHelmStore(cfg *action.Configuration, releaseName, namespace string) *HelmStore {
	return &HelmStore{
		Helm:       cfg,
		Release:    releaseName,
		Namespace:  namespace,
		MaxHistory: DefaultHistoryMax,
		Timeout:    5 * time.Minute, // helm's --timeout default
	}
}

// Describe names the release.
func (h *HelmStore) Describe() string {
	return fmt.Sprintf("helm release %s/%s", h.Namespace, h.Release)
}

// Load reads the release's latest revision.
func (h *HelmStore) Load(_ context.Context) (*Snapshot, error) {
	rel, err := h.Helm.Releases.Last(h.Release)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("%w: release %q not found in namespace %q", values.ErrBadInput, h.Release, h.Namespace)
	}
	if err != nil {
		return nil, fmt.Errorf("read release %q: %w", h.Release, err)
	}
	status, latest := "", rel.Version
	if rel.Info != nil {
		status = rel.Info.Status.String()
	}
	// The values live in the cluster are the last deployed revision's: a failed
	// upgrade after it recorded values that may never have been applied.
	if deployed, err := h.Helm.Releases.Deployed(h.Release); err == nil {
		rel = deployed
	}
	if rel.Chart == nil {
		return nil, fmt.Errorf("release %q has no chart stored", h.Release)
	}
	v, err := values.Parse(rel.Chart, rel.Config)
	if err != nil {
		return nil, fmt.Errorf("read values of release %q: %w", h.Release, err)
	}
	name, ns := releaseObjects(rel)
	return &Snapshot{
		Chart:     rel.Chart,
		User:      values.Copy(rel.Config),
		Values:    v,
		Fullname:  name,
		Namespace: ns,
		Revision:  rel.Version,
		Status:    status,
		Latest:    latest,
	}, nil
}

// Apply upgrades the release with its own chart and its user values plus the change.
func (h *HelmStore) Apply(ctx context.Context, snap *Snapshot, change values.Change, description string) error {
	// Helm's upgrade has no compare-and-swap: a `helm upgrade --reuse-values` made by a person
	// or CI during a gate would be undone by merging over the values read before it.
	if last, err := h.Helm.Releases.Last(h.Release); err == nil && last.Version != snap.Latest {
		desc := ""
		if last.Info != nil {
			desc = last.Info.Description
		}
		return &StaleError{Release: h.Release, Read: snap.Latest, Found: last.Version, Description: desc}
	}
	u := action.NewUpgrade(h.Helm)
	u.Namespace = h.Namespace
	u.Description = description
	u.MaxHistory = h.MaxHistory
	u.Timeout = h.Timeout
	// An interrupt must not cut an upgrade in half and leave the release pending:
	// the step runs to its end and the cutover stops before the next one.
	ctx = context.WithoutCancel(ctx)
	if _, err := u.RunWithContext(ctx, h.Release, snap.Chart, change.Merge(snap.User)); err != nil {
		return fmt.Errorf("helm upgrade %s (%s): %w", h.Release, change, err)
	}
	return nil
}

// releaseObjects reads the objects' name prefix and namespace from what the release rendered:
// its blue Deployment is <fullname>-blue, in the namespace namespaceOverride named (or the
// release's). Only a release whose manifest lacks it (none the chart renders) falls back to
// the chart's naming rule.
func releaseObjects(rel *helmrelease.Release) (fullname, namespace string) {
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string            `json:"name"`
				Namespace string            `json:"namespace"`
				Labels    map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			continue // not an object: a comment-only document
		}
		if obj.Kind == "Deployment" && obj.Metadata.Labels["color"] == string(values.Blue) {
			ns := obj.Metadata.Namespace
			if ns == "" {
				ns = rel.Namespace
			}
			return strings.TrimSuffix(obj.Metadata.Name, "-"+string(values.Blue)), ns
		}
	}
	return fullnameOf(rel.Name, rel.Chart, rel.Config), objectNamespace(rel.Namespace, rel.Chart, rel.Config)
}
