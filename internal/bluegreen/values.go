package bluegreen

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
)

// Color is one of the two Deployments the chart renders.
type Color string

// The two colours of the chart's values contract.
const (
	Blue  Color = "blue"
	Green Color = "green"
)

// Other returns the colour that is not c.
func (c Color) Other() Color {
	if c == Blue {
		return Green
	}
	return Blue
}

// ParseColor accepts exactly "blue" or "green".
func ParseColor(s string) (Color, error) {
	switch Color(s) {
	case Blue, Green:
		return Color(s), nil
	}
	return "", fmt.Errorf("%w: colour %q is neither blue nor green", ErrBadInput, s)
}

// ScaleDownAnnotation is where the chart renders a colour's scaleDownAt on its Deployment.
const ScaleDownAnnotation = "ai-assistant.io/scale-down-at"

// ColorValues is what the tool reads from a colour's block of the release values.
type ColorValues struct {
	Tag         string
	Digest      string
	Replicas    *int // nil: follow replicaCount / autoscaling
	ScaleDownAt *time.Time
}

// Values is the part of a release's coalesced values the cutover reads.
type Values struct {
	Active       Color
	Colors       map[Color]ColorValues
	Repository   string
	Tag          string // image.tag, the fallback for colours without a tag
	AppVersion   string // the chart's, the last fallback
	ReplicaCount int
	// ContainerPort is where the pods serve /ready, /health and /metrics.
	ContainerPort int
	Autoscaling   bool
	MinReplicas   int
	MaxReplicas   int
	// All is every coalesced value, for the per-colour snapshot rules (package snapshot).
	All map[string]any
}

// Image returns the reference the chart renders for colour c: the digest wins over
// the tag, which falls back to image.tag and then the chart's appVersion.
func (v Values) Image(c Color) string {
	cv := v.Colors[c]
	if cv.Digest != "" {
		return v.Repository + "@" + cv.Digest
	}
	return v.Repository + ":" + v.ImageTag(c)
}

// ImageTag returns the tag colour c runs, after the chart's fallbacks.
func (v Values) ImageTag(c Color) string {
	for _, t := range []string{v.Colors[c].Tag, v.Tag, v.AppVersion} {
		if t != "" {
			return t
		}
	}
	return ""
}

// ScaledToZero reports whether colour c's values scale it to zero.
func (v Values) ScaledToZero(c Color) bool {
	r := v.Colors[c].Replicas
	return r != nil && *r == 0
}

// DefaultReplicas is what a colour that follows the values would ask for: the
// autoscaler's minimum when autoscaling is on, replicaCount otherwise.
func (v Values) DefaultReplicas() int {
	if v.Autoscaling {
		return v.MinReplicas
	}
	return v.ReplicaCount
}

// parseValues reads the contract's keys from a release's user-supplied values
// coalesced over its chart's defaults.
func parseValues(ch *chart.Chart, user map[string]any) (Values, error) {
	all, err := chartutil.CoalesceValues(ch, copyMap(user))
	if err != nil {
		return Values{}, fmt.Errorf("coalesce release values: %w", err)
	}
	v := Values{Colors: map[Color]ColorValues{}, All: all}
	if ch.Metadata != nil {
		v.AppVersion = ch.Metadata.AppVersion
	}
	active, _ := lookup(all, "activeColor").(string)
	if v.Active, err = ParseColor(active); err != nil {
		return Values{}, fmt.Errorf("read activeColor: %w", err)
	}
	v.Repository, _ = lookup(all, "image.repository").(string)
	v.Tag = stringOf(lookup(all, "image.tag"))
	v.ReplicaCount, _ = intOf(lookup(all, "replicaCount"))
	v.ContainerPort = 8000 // the seed's, when the chart does not say
	if p, ok := intOf(lookup(all, "containerPort")); ok && p > 0 {
		v.ContainerPort = p
	}
	v.Autoscaling, _ = lookup(all, "autoscaling.enabled").(bool)
	v.MinReplicas, _ = intOf(lookup(all, "autoscaling.minReplicas"))
	v.MaxReplicas, _ = intOf(lookup(all, "autoscaling.maxReplicas"))
	for _, c := range []Color{Blue, Green} {
		cv := ColorValues{
			Tag:    stringOf(lookup(all, string(c)+".image.tag")),
			Digest: stringOf(lookup(all, string(c)+".image.digest")),
		}
		if n, ok := intOf(lookup(all, string(c)+".replicas")); ok {
			cv.Replicas = &n
		}
		if s := stringOf(lookup(all, string(c)+".scaleDownAt")); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return Values{}, fmt.Errorf("read %s.scaleDownAt: %w", c, err)
			}
			cv.ScaleDownAt = &t
		}
		v.Colors[c] = cv
	}
	return v, nil
}

// Change is a set of values to set, by dotted path; a nil value is YAML null, which
// makes Helm fall back to the chart's default.
type Change map[string]any

// Merge returns a deep copy of user with the change applied: what `helm upgrade
// --reuse-values --set ...` would send.
func (ch Change) Merge(user map[string]any) map[string]any {
	out := copyMap(user)
	for _, path := range ch.Paths() {
		keys := strings.Split(path, ".")
		m := out
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		if _, unset := ch[path].(snapshot.Unset); unset {
			delete(m, keys[len(keys)-1])
			continue
		}
		m[keys[len(keys)-1]] = copyValue(ch[path]) // the upgrade may coalesce into it; never into the caller's map
	}
	return out
}

// Paths returns the change's paths in a stable order.
func (ch Change) Paths() []string {
	paths := make([]string, 0, len(ch))
	for p := range ch {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

// Nested returns the change as a nested map, the shape of a values file.
func (ch Change) Nested() map[string]any { return ch.Merge(nil) }

// Satisfied reports whether user already holds every value of the change, so an
// upgrade would change nothing.
func (ch Change) Satisfied(user map[string]any) bool {
	for p, want := range ch {
		got := lookup(user, p)
		if _, unset := want.(snapshot.Unset); unset {
			want = nil // removed and null read the same here
		}
		if fmt.Sprint(normalize(got)) != fmt.Sprint(normalize(want)) {
			return false
		}
	}
	return true
}

// Pending returns the part of the change that user does not already hold.
func (ch Change) Pending(user map[string]any) Change {
	out := Change{}
	for p, want := range ch {
		if !Change(map[string]any{p: want}).Satisfied(user) {
			out[p] = want
		}
	}
	return out
}

// String renders the change like --set flags, for messages.
func (ch Change) String() string {
	parts := make([]string, 0, len(ch))
	for _, p := range ch.Paths() {
		v := ch[p]
		if v == nil {
			v = "null"
		}
		if _, unset := v.(snapshot.Unset); unset {
			v = "<default>"
		}
		parts = append(parts, fmt.Sprintf("%s=%v", p, v))
	}
	return strings.Join(parts, ",")
}

func normalize(v any) any {
	if n, ok := intOf(v); ok {
		return n
	}
	if s, ok := v.(string); ok && s == "" {
		return nil // "" and null mean the same to the chart here
	}
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			return nil // an empty colour map follows the shared one, as null does
		}
	case []any:
		if len(t) == 0 {
			return nil
		}
	}
	return v
}

func lookup(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		switch mm := cur.(type) {
		case map[string]any:
			cur = mm[k]
		case chartutil.Values:
			cur = mm[k]
		default:
			return nil
		}
	}
	return cur
}

func stringOf(v any) string {
	switch s := v.(type) {
	case nil:
		return ""
	case string:
		return s
	default:
		return fmt.Sprint(s)
	}
}

func intOf(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// copyValue deep-copies maps and lists; anything else is a value already.
func copyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return copyMap(t)
	case chartutil.Values:
		return copyMap(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}
