package release

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kblabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// CachedSecrets is Helm's Secrets storage driver that decodes each stored revision once per
// process. Helm's own driver answers every query (the last revision, the history, the deployed
// one) by listing the release's Secrets and decoding every revision: base64, gzip and the JSON
// of the whole chart (values.schema.json, values.yaml, the templates, files/dashboard.json).
// A switch made five such queries: the store's stale check, Helm's upgrade (its last revision,
// then its history for --history-max) and the read back, ~60-90 ms each at a dozen revisions,
// and history keeps up to 50 (measured by BenchmarkSwitch in internal/bluegreen/realapi).
//
// Here a query lists the Secrets' metadata only (their labels say name, status and version)
// and decodes only a revision whose Secret changed (a new resourceVersion) since it was
// decoded. Writes go to Helm's driver unchanged, so what is stored is Helm's own format.
type CachedSecrets struct {
	*driver.Secrets
	meta metadata.ResourceInterface // the release namespace's Secrets, metadata only

	mu      sync.Mutex
	decoded map[string]decoded // by Secret name
}

type decoded struct {
	resourceVersion string
	rel             *helmrelease.Release
}

// NewCachedSecrets returns the driver over the release namespace's Secrets: secrets reads
// and writes them as Helm's driver does, meta lists their metadata.
func NewCachedSecrets(secrets typedcorev1.SecretInterface, meta metadata.Interface, namespace string) *CachedSecrets {
	return &CachedSecrets{
		Secrets: driver.NewSecrets(secrets),
		meta:    meta.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(namespace),
		decoded: map[string]decoded{},
	}
}

// Query returns the releases whose Secrets carry labels, as Helm's driver does: the labels of
// each are its Secret's, all of them.
func (c *CachedSecrets) Query(labels map[string]string) ([]*helmrelease.Release, error) {
	ls := kblabels.Set{}
	for k, v := range labels {
		if errs := validation.IsValidLabelValue(v); len(errs) != 0 {
			return nil, fmt.Errorf("invalid label value: %q: %s", v, strings.Join(errs, "; "))
		}
		ls[k] = v
	}
	list, err := c.meta.List(context.Background(), metav1.ListOptions{LabelSelector: ls.AsSelector().String()})
	if err != nil {
		return nil, fmt.Errorf("query: failed to query with labels: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	var out []*helmrelease.Release
	for _, item := range list.Items {
		rel, err := c.get(item.Name, item.ResourceVersion)
		if err != nil {
			if errors.Is(err, driver.ErrReleaseNotFound) {
				continue // deleted since the list (history pruned)
			}
			return nil, err
		}
		rel.Labels = maps.Clone(item.Labels)
		out = append(out, rel)
	}
	if len(out) == 0 {
		return nil, driver.ErrReleaseNotFound
	}
	return out, nil
}

// get returns a copy of the release in Secret name, decoded again only if the Secret is not
// at resourceVersion any more. A Secret read after the list is as new as the list or newer;
// when newer, the next list shows another resourceVersion and it is read again.
func (c *CachedSecrets) get(name, resourceVersion string) (*helmrelease.Release, error) {
	c.mu.Lock()
	d, ok := c.decoded[name]
	c.mu.Unlock()
	if !ok || d.resourceVersion != resourceVersion {
		rel, err := c.Get(name)
		if err != nil {
			return nil, err
		}
		d = decoded{resourceVersion: resourceVersion, rel: rel}
		c.mu.Lock()
		c.decoded[name] = d
		c.mu.Unlock()
	}
	return copyRelease(d.rel), nil
}

// Delete deletes the release's Secret and forgets it.
func (c *CachedSecrets) Delete(key string) (*helmrelease.Release, error) {
	c.mu.Lock()
	delete(c.decoded, key)
	c.mu.Unlock()
	return c.Secrets.Delete(key)
}

// copyRelease copies what Helm's actions and this package change or hand on: the info, the
// user values, the chart's values, metadata and file lists, the hooks and labels. A decoded
// release is never handed out itself.
func copyRelease(r *helmrelease.Release) *helmrelease.Release {
	cp := *r
	if r.Info != nil {
		info := *r.Info
		cp.Info = &info
	}
	if r.Config != nil {
		cp.Config = values.Copy(r.Config)
	}
	if r.Chart != nil {
		ch := *r.Chart
		if ch.Metadata != nil {
			md := *ch.Metadata
			ch.Metadata = &md
		}
		if ch.Values != nil {
			ch.Values = values.Copy(ch.Values)
		}
		ch.Templates = slices.Clone(ch.Templates)
		ch.Files = slices.Clone(ch.Files)
		cp.Chart = &ch
	}
	cp.Hooks = make([]*helmrelease.Hook, len(r.Hooks))
	for i, h := range r.Hooks {
		hc := *h
		cp.Hooks[i] = &hc
	}
	cp.Labels = maps.Clone(r.Labels)
	return &cp
}
