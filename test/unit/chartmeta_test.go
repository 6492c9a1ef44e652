package unit

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// The Artifact Hub images annotation lists exactly the images a default install runs (the
// Deployments' containers and the helm test pod), so scanners read the truth.
func TestArtifactHubImagesAreTheRenderedOnes(t *testing.T) {
	t.Parallel()
	var listed []struct{ Name, Image string }
	require.NoError(t, yaml.UnmarshalStrict([]byte(loadChart(t).Metadata.Annotations["artifacthub.io/images"]), &listed))
	var annotated []string
	for _, l := range listed {
		require.NotEmpty(t, l.Name)
		annotated = append(annotated, l.Image)
	}

	r := render(t, nil)
	var rendered []string
	addImages := func(spec corev1.PodSpec) {
		for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
			if !slices.Contains(rendered, c.Image) {
				rendered = append(rendered, c.Image)
			}
		}
	}
	for _, d := range all[*appsv1.Deployment](r) {
		addImages(d.Spec.Template.Spec)
	}
	for _, p := range all[*corev1.Pod](r) {
		addImages(p.Spec)
	}
	assert.ElementsMatch(t, rendered, annotated)
}

// Every chart version has its CHANGELOG.md section, newest first, and the Artifact Hub changes
// annotation is well formed: a bump without its changelog fails here.
func TestChangelogAndChangesFollowTheVersion(t *testing.T) {
	t.Parallel()
	md := loadChart(t).Metadata
	raw, err := os.ReadFile(filepath.Join(chartDir, "CHANGELOG.md"))
	require.NoError(t, err)
	headings := regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(raw), -1)
	require.NotEmpty(t, headings, "CHANGELOG.md has no version section")
	assert.Equal(t, md.Version, headings[0][1], "the newest CHANGELOG.md section is not the chart's version")

	var changes []struct{ Kind, Description string }
	require.NoError(t, yaml.UnmarshalStrict([]byte(md.Annotations["artifacthub.io/changes"]), &changes))
	require.NotEmpty(t, changes)
	for _, c := range changes {
		assert.Contains(t, []string{"added", "changed", "deprecated", "removed", "fixed", "security"}, c.Kind, "Artifact Hub knows no change kind %q", c.Kind)
		assert.NotEmpty(t, c.Description)
	}
}

// The metadata a registry or Artifact Hub shows: absolute URLs, a maintainer to write to, a
// license the repository carries.
func TestChartMetadataForArtifactHub(t *testing.T) {
	t.Parallel()
	md := loadChart(t).Metadata
	urls := append([]string{md.Home, md.Icon}, md.Sources...)
	var links []struct{ Name, URL string }
	require.NoError(t, yaml.UnmarshalStrict([]byte(md.Annotations["artifacthub.io/links"]), &links))
	for _, l := range links {
		require.NotEmpty(t, l.Name)
		urls = append(urls, l.URL)
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		require.NoError(t, err)
		assert.True(t, p.Scheme == "https" && p.Host != "", "not an absolute https URL: %q", u)
	}
	require.NotEmpty(t, md.Maintainers)
	for _, m := range md.Maintainers {
		assert.Regexp(t, `^[^@\s]+@[^@\s]+\.[a-z]+$`, m.Email, "maintainer %q", m.Name)
	}
	license, err := os.ReadFile(filepath.Join(chartDir, "..", "..", "LICENSE"))
	require.NoError(t, err)
	assert.Equal(t, "Apache-2.0", md.Annotations["artifacthub.io/license"])
	assert.True(t, strings.Contains(string(license), "Apache License") && strings.Contains(string(license), "Version 2.0"), "LICENSE is not the Apache License 2.0")
}
