package unit

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/strvals"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

const (
	releaseName = "ai-assistant"
	namespace   = "ai-assistant"
	// kubeVersion is the Kubernetes version the project targets (kind v0.33.0's default).
	kubeVersion = "v1.37.2"
)

// repoRoot is the repository root, found from this file's location so tests run from any
// working directory.
var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var chartDir = filepath.Join(repoRoot, "charts", "ai-assistant")

// strictDecoder decodes into typed objects and fails on unknown or duplicate fields, so a
// misspelled or misplaced field in a template cannot pass unnoticed.
var strictDecoder = func() k8sruntime.Decoder {
	s := k8sruntime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
}()

// doc is one rendered YAML document: where it came from, its text and its typed object.
type doc struct {
	Source string
	YAML   string
	Object k8sruntime.Object
}

// rendered is a decoded render of the chart: the manifests, then the hooks.
type rendered struct {
	Docs  []doc
	Notes string
}

// loadChart loads the chart from disk. Each render loads its own copy because an install
// may modify the chart it is given.
func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	require.NoError(t, err, "load chart")
	return c
}

// values builds user-supplied values the way the helm CLI does: a YAML document (as with -f),
// then --set expressions on top.
func values(t testing.TB, yamlDoc string, sets ...string) map[string]any {
	t.Helper()
	vals := map[string]any{}
	require.NoError(t, yaml.Unmarshal([]byte(yamlDoc), &vals), "values YAML")
	if vals == nil {
		vals = map[string]any{}
	}
	for _, s := range sets {
		require.NoError(t, strvals.ParseInto(s, vals), "--set %s", s)
	}
	return vals
}

// valuesFile reads a values file as `helm install -f` would.
func valuesFile(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return values(t, string(b))
}

// renderRelease renders the chart in-process exactly as `helm install --dry-run` (client only)
// would: values coalesced, values.schema.json enforced, templates and NOTES rendered.
func renderRelease(t testing.TB, vals map[string]any, kube string) (*release.Release, error) {
	t.Helper()
	return renderChart(t, loadChart(t), releaseName, vals, kube)
}

// renderChart is renderRelease for a chart the caller loaded (and perhaps changed, such as its
// version).
func renderChart(t testing.TB, ch *chart.Chart, name string, vals map[string]any, kube string) (*release.Release, error) {
	t.Helper()
	kv, err := chartutil.ParseKubeVersion(kube)
	require.NoError(t, err)
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.ReleaseName = name
	install.Namespace = namespace
	install.KubeVersion = kv
	return install.Run(ch, vals)
}

// render renders and decodes the chart for the target Kubernetes version; it fails the test
// on any error.
func render(t testing.TB, vals map[string]any) *rendered {
	t.Helper()
	return renderFor(t, vals, kubeVersion)
}

// renderFor renders and decodes the chart for the given Kubernetes version.
func renderFor(t testing.TB, vals map[string]any, kube string) *rendered {
	t.Helper()
	rel, err := renderRelease(t, vals, kube)
	require.NoError(t, err, "render")
	return decodeRelease(t, rel)
}

// decodeRelease decodes a rendered release's manifest, hooks and notes.
func decodeRelease(t testing.TB, rel *release.Release) *rendered {
	t.Helper()
	r := &rendered{Notes: rel.Info.Notes}
	r.Docs = append(r.Docs, decodeManifest(t, rel.Manifest)...)
	for _, h := range rel.Hooks {
		r.Docs = append(r.Docs, decodeManifest(t, "# Source: "+h.Path+"\n"+h.Manifest)...)
	}
	return r
}

var (
	docSeparator = regexp.MustCompile(`(?m)^---\s*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// decodeManifest splits a manifest into documents and decodes each strictly.
func decodeManifest(t testing.TB, manifest string) []doc {
	t.Helper()
	var docs []doc
	for _, part := range docSeparator.Split(manifest, -1) {
		if strings.TrimSpace(stripComments(part)) == "" {
			continue
		}
		source := ""
		if m := sourceLine.FindStringSubmatch(part); m != nil {
			source = m[1]
		}
		obj, _, err := strictDecoder.Decode([]byte(part), nil, nil)
		require.NoError(t, err, "decode %s:\n%s", source, part)
		docs = append(docs, doc{Source: source, YAML: part, Object: obj})
	}
	return docs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// kinds lists "Kind/name" of every document, sorted.
func (r *rendered) kinds() []string {
	var out []string
	for _, d := range r.Docs {
		out = append(out, kindName(d.Object))
	}
	sort.Strings(out)
	return out
}

func kindName(obj k8sruntime.Object) string {
	m, ok := obj.(interface{ GetName() string })
	name := "?"
	if ok {
		name = m.GetName()
	}
	return fmt.Sprintf("%s/%s", obj.GetObjectKind().GroupVersionKind().Kind, name)
}

// find returns the object of type T with the given name, or nil.
func find[T interface {
	k8sruntime.Object
	GetName() string
}](r *rendered, name string) T {
	var zero T
	for _, d := range r.Docs {
		if o, ok := d.Object.(T); ok && o.GetName() == name {
			return o
		}
	}
	return zero
}

// get returns the object of type T with the given name and fails the test when it is absent.
func get[T interface {
	k8sruntime.Object
	GetName() string
}](t testing.TB, r *rendered, name string) T {
	t.Helper()
	o := find[T](r, name)
	require.False(t, isNil(o), "no %T named %q in the render; have %v", o, name, r.kinds())
	return o
}

// all returns every object of type T.
func all[T k8sruntime.Object](r *rendered) []T {
	var out []T
	for _, d := range r.Docs {
		if o, ok := d.Object.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// isNil reports whether o is nil or a nil pointer held in an interface.
func isNil(o any) bool {
	if o == nil {
		return true
	}
	v := reflect.ValueOf(o)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// ciValuesFiles lists the chart's ci/*-values.yaml scenarios.
func ciValuesFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no ci/*-values.yaml scenarios")
	return files
}
