// Package snapshot is the chart's per-colour snapshot in Go: which values shape a colour's
// pods, what a colour runs once its own keys are laid over the shared ones, how two colours
// differ, and how a deploy stages a change under the idle colour.
//
// It mirrors the chart's `ai-assistant.colorValues` helper: the rules cannot be read back
// from a render, and the command needs them before it renders anything. The unit tests pin the
// two together (test/unit compares Diff with the chart's NOTES).
package snapshot

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Merged are the maps of strings a colour merges key by key over the shared map.
var Merged = []string{"config", "secrets", "podAnnotations", "podLabels"}

// Replaced are the keys a colour replaces wholesale when it sets them (null follows the
// shared key). The chart's `ai-assistant.replacedKeys` lists the same.
var Replaced = []string{
	"existingSecret", "extraEnv", "resources", "livenessProbe", "readinessProbe", "startupProbe",
	"podSecurityContext", "securityContext", "terminationGracePeriodSeconds", "preStopSleepSeconds",
	"nodeSelector", "tolerations", "affinity", "topologySpread", "priorityClassName",
	"imagePullSecrets", "extraVolumes", "extraVolumeMounts",
}

// ImageKeys are the parts of `image` a colour sets for itself.
var ImageKeys = []string{"repository", "tag", "digest", "pullPolicy"}

// Secret is the key whose values are never shown, only its entries' names.
const Secret = "secrets"

// Of returns colour's snapshot from a release's coalesced values: every pod-shaping key with
// the colour's own value over the shared one, plus "image" (the reference the chart renders),
// "imagePullPolicy" and "env" (the colour's env after its extraEnv).
func Of(all map[string]any, color, appVersion string) map[string]any {
	own := mapAt(all, color)
	out := map[string]any{}
	for _, k := range Replaced {
		if v, ok := own[k]; ok && v != nil {
			out[k] = v
		} else {
			out[k] = all[k]
		}
	}
	for _, k := range Merged {
		out[k] = overlay(mapAt(all, k), mapAt(own, k))
	}
	shared, ownImage := mapAt(all, "image"), mapAt(own, "image")
	repo := firstString(ownImage["repository"], shared["repository"])
	if d := firstString(ownImage["digest"]); d != "" {
		out["image"] = repo + "@" + d
	} else {
		out["image"] = repo + ":" + firstString(ownImage["tag"], shared["tag"], appVersion)
	}
	out["imagePullPolicy"] = firstString(ownImage["pullPolicy"], shared["pullPolicy"])
	out["env"] = mergeEnv(out["extraEnv"], own["env"])
	return out
}

// Diff lists the keys in which two snapshots differ, in a stable order: "image", whole keys
// ("resources"), then map entries ("config.DEFAULT_MODEL", "secrets.DEEPSEEK_API_KEY").
// A secret is named, its value never.
func Diff(a, b map[string]any) []string {
	var out []string
	for _, k := range append([]string{"image", "imagePullPolicy", "env"}, Replaced...) {
		if !equal(a[k], b[k]) {
			out = append(out, k)
		}
	}
	for _, k := range Merged {
		ma, mb := mapOf(a[k]), mapOf(b[k])
		for _, kk := range unionKeys(ma, mb) {
			if !equal(ma[kk], mb[kk]) {
				out = append(out, k+"."+kk)
			}
		}
	}
	return out
}

// Validate checks that over, a values document written with the shared keys' names, sets only
// keys that shape a colour's pods. defaults are the chart's values, to tell a key the chart
// does not have from one it shares between the colours.
func Validate(over, defaults map[string]any) error {
	for _, k := range sortedKeys(over) {
		switch {
		case k == "blue" || k == "green":
			return fmt.Errorf("key %q: give the shared key's name (config.KEY, resources, ...); the change is written under the idle colour", k)
		case k == "image":
			sub, ok := over[k].(map[string]any)
			if !ok {
				return fmt.Errorf("key %q: want a map of %s", k, strings.Join(ImageKeys, ", "))
			}
			for _, kk := range sortedKeys(sub) {
				if !slices.Contains(ImageKeys, kk) {
					return fmt.Errorf("key %q is not a per-colour image key (want %s)", "image."+kk, strings.Join(ImageKeys, ", "))
				}
			}
		case slices.Contains(Merged, k):
			if _, ok := over[k].(map[string]any); !ok && over[k] != nil {
				return fmt.Errorf("key %q: want a map of KEY: value", k)
			}
		case slices.Contains(Replaced, k):
		default:
			if _, known := defaults[k]; !known {
				return fmt.Errorf("unknown key %q: the chart has no such value", k)
			}
			return fmt.Errorf("key %q does not shape a colour's pods: both colours share it, so change it with `helm upgrade` (it is not gated)", k)
		}
	}
	return nil
}

// Stage returns the idle colour's new block for a deploy: the active colour's own pod-shaping
// keys (so the idle colour starts as an exact copy of what serves, whatever an earlier cutover
// left in its block) with over laid on top. Merged maps take over's entries; a replaced key
// over sets is merged over what the active colour runs, as a values file merges (maps by key,
// anything else replaced); image keys come from over, and a tag or a digest in over replaces
// both. Keys are the block's own ("config", "image.tag", ...), values what to write there; nil
// writes null, which follows the shared key.
func Stage(all map[string]any, active string, over map[string]any) map[string]any {
	own := mapAt(all, active)
	out := map[string]any{}
	for _, k := range Replaced {
		out[k] = own[k]
		if v, ok := over[k]; ok {
			base := own[k]
			if base == nil {
				base = all[k]
			}
			out[k] = mergeValue(base, v)
		}
	}
	for _, k := range Merged {
		out[k] = overlay(mapAt(own, k), mapAt(over, k))
	}
	ownImage, overImage := mapAt(own, "image"), mapAt(over, "image")
	_, newTag := overImage["tag"]
	_, newDigest := overImage["digest"]
	for _, k := range ImageKeys {
		v, ok := overImage[k]
		switch {
		case ok:
			out["image."+k] = v
		case (k == "tag" || k == "digest") && (newTag || newDigest):
			out["image."+k] = ""
		default:
			out["image."+k] = ownImage[k]
		}
	}
	if out["image.tag"] == nil {
		out["image.tag"] = ""
	}
	if out["image.digest"] == nil {
		out["image.digest"] = ""
	}
	if env, ok := own["env"]; ok {
		out["env"] = env
	} else {
		out["env"] = []any{}
	}
	return out
}

// overlay returns a copy of base with over's entries laid on it, as a colour's map merges over
// the shared one.
func overlay(base, over map[string]any) map[string]any {
	out := copyMap(base)
	for k, v := range over {
		out[k] = v
	}
	return out
}

// mergeEnv is the colour's extraEnv with its env added, an entry replacing one of the same name.
func mergeEnv(extra, env any) []any {
	own := map[string]bool{}
	envList, _ := env.([]any)
	for _, e := range envList {
		own[fmt.Sprint(mapOf(e)["name"])] = true
	}
	var out []any
	extraList, _ := extra.([]any)
	for _, e := range extraList {
		if !own[fmt.Sprint(mapOf(e)["name"])] {
			out = append(out, e)
		}
	}
	return append(out, envList...)
}

// mergeValue lays over onto base as Helm lays a values file over defaults: maps merge key by
// key (null deletes), anything else is replaced.
func mergeValue(base, over any) any {
	bm, bok := base.(map[string]any)
	om, ook := over.(map[string]any)
	if !bok || !ook {
		return over
	}
	out := copyMap(bm)
	for k, v := range om {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergeValue(out[k], v)
	}
	return out
}

func mapAt(m map[string]any, key string) map[string]any { return mapOf(m[key]) }

// mapOf returns v as a map, or an empty one. Helm hands values over as map[string]any or as
// its own chartutil.Values type; both have this underlying type.
func mapOf(v any) map[string]any {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Map && rv.Type().Key().Kind() == reflect.String && rv.Type().Elem().Kind() == reflect.Interface {
		return rv.Convert(reflect.TypeOf(map[string]any{})).Interface().(map[string]any)
	}
	return map[string]any{}
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
			out[k] = copyMap(mapOf(v))
			continue
		}
		out[k] = v
	}
	return out
}

// equal compares two values as the chart renders them: numbers by value, whatever their Go
// type, and a missing map or list like an empty one.
func equal(a, b any) bool { return fmt.Sprint(canonical(a)) == fmt.Sprint(canonical(b)) }

func canonical(v any) any {
	switch t := v.(type) {
	case nil:
		return nil
	case []any:
		if len(t) == 0 {
			return nil
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = canonical(e)
		}
		return out
	case int, int32, int64, float32, float64:
		return fmt.Sprintf("%v", t)
	case string:
		return t
	}
	if m := mapOf(v); reflect.ValueOf(v).Kind() == reflect.Map {
		if len(m) == 0 {
			return nil
		}
		out := map[string]any{}
		for k, e := range m {
			out[k] = canonical(e)
		}
		return out // fmt prints maps with sorted keys
	}
	return v
}

func firstString(vs ...any) string {
	for _, v := range vs {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func unionKeys(a, b map[string]any) []string {
	set := map[string]any{}
	for k := range a {
		set[k] = nil
	}
	for k := range b {
		set[k] = nil
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }
