package values

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
)

// Change is a set of values to set, by dotted path; a nil value is YAML null, which
// makes Helm fall back to the chart's default.
type Change map[string]any

// Merge returns a deep copy of user with the change applied: what `helm upgrade
// --reuse-values --set ...` would send.
func (ch Change) Merge(user map[string]any) map[string]any {
	out := Copy(user)
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
