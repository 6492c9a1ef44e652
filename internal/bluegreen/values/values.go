// Package values reads and writes the chart's blue-green values contract: the two colours,
// what a release's values ask of each, and a Change to them, applied as Helm's
// --reuse-values --set would or written into a values file without losing its comments.
package values

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// ErrBadInput marks input refused before anything changed: a colour that is neither blue nor
// green, or values (a file, a release) that cannot be read as the chart's. It lives here, the
// lowest package that refuses input, so the stores above can wrap it too; package bluegreen
// re-exports it for the command's exit code.
var ErrBadInput = errors.New("bad input")

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

func (c Color) String() string { return string(c) }

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

// Parse reads the contract's keys from a release's user-supplied values
// coalesced over its chart's defaults.
func Parse(ch *chart.Chart, user map[string]any) (Values, error) {
	all, err := chartutil.CoalesceValues(ch, Copy(user))
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

// StringAt reads the value at a dotted path as a string, "" when it is not set.
func StringAt(m map[string]any, path string) string { return stringOf(lookup(m, path)) }

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
		return Copy(t)
	case chartutil.Values:
		return Copy(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// Copy deep-copies a values map: a change merged into the copy never reaches the original.
func Copy(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyValue(v)
	}
	return out
}
