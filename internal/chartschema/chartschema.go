// Package chartschema types the Kubernetes objects that pass through the chart's values
// (securityContext, probes, affinity, volumes, ...) with the OpenAPI definitions of the
// Kubernetes version the project targets, so values.schema.json rejects a wrong type at
// `helm template` time, naming the key, instead of the API server rejecting it at install.
//
// Definitions computes the definitions the chart needs from the swagger spec, made strict
// the way the unit tests validate rendered objects (Strict), and Splice writes them into
// values.schema.json without touching anything else in the file.
package chartschema

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
)

// Prefix starts the name of every Kubernetes definition; Splice owns the definitions whose
// names start with it.
const Prefix = "io.k8s."

// Roots are the definitions the chart's values refer to. Definitions adds everything they
// reference.
var Roots = []string{
	"io.k8s.api.autoscaling.v2.MetricSpec",
	"io.k8s.api.core.v1.Affinity",
	"io.k8s.api.core.v1.EnvVar",
	"io.k8s.api.core.v1.LocalObjectReference",
	"io.k8s.api.core.v1.PodSecurityContext",
	"io.k8s.api.core.v1.Probe",
	"io.k8s.api.core.v1.ResourceRequirements",
	"io.k8s.api.core.v1.SecurityContext",
	"io.k8s.api.core.v1.Toleration",
	"io.k8s.api.core.v1.Volume",
	"io.k8s.api.core.v1.VolumeMount",
}

// swaggerRef starts every $ref in the swagger spec.
const swaggerRef = "#/definitions/"

// LoadSwagger returns the definitions of the OpenAPI (swagger 2.0) spec published in the
// k8s.io/kubernetes module at kubeVersion (e.g. "v1.37.2"), read from the Go module cache
// (downloaded there when missing). dir is any directory inside this repository.
func LoadSwagger(dir, kubeVersion string) (map[string]any, error) {
	k8sDir, err := gomod.Dir(dir, "k8s.io/kubernetes@"+kubeVersion)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(k8sDir, "api", "openapi-spec", "swagger.json"))
	if err != nil {
		return nil, fmt.Errorf("read kubernetes openapi spec: %w", err)
	}
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("parse kubernetes openapi spec: %w", err)
	}
	if len(spec.Definitions) == 0 {
		return nil, fmt.Errorf("kubernetes openapi spec %s has no definitions", kubeVersion)
	}
	return spec.Definitions, nil
}

// Strict makes a Kubernetes definition reject unknown fields (the API server prunes or
// rejects them, so a value or template that sets one is wrong) and fixes the two types
// whose swagger form is narrower than what the API server accepts. It modifies def.
func Strict(name string, def any) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"type": []any{"string", "integer"}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"type": []any{"string", "number"}}
	}
	return Walk(def, func(m map[string]any) {
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
	})
}

// Walk applies fn to every schema object in the schema v, children first, and returns v. It
// follows schema keywords only, so a property named "properties" is not mistaken for one.
func Walk(v any, fn func(map[string]any)) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, p := range props {
			Walk(p, fn)
		}
	}
	for _, key := range []string{"items", "additionalProperties", "not"} {
		Walk(m[key], fn)
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := m[key].([]any); ok {
			for _, s := range list {
				Walk(s, fn)
			}
		}
	}
	fn(m)
	return v
}

// validation are the keywords a definition keeps: the ones JSON Schema validates with.
var validation = map[string]bool{
	"$ref": true, "type": true, "enum": true,
	"properties": true, "additionalProperties": true, "required": true,
	"minProperties": true, "maxProperties": true,
	"items": true, "minItems": true, "maxItems": true, "uniqueItems": true,
	"minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true, "exclusiveMinimum": true, "exclusiveMaximum": true, "multipleOf": true,
	"allOf": true, "anyOf": true, "oneOf": true, "not": true,
}

// documentation are the keywords a definition drops: they describe, they do not validate.
// `format` (int32, int64, date-time, ...) is an annotation for Helm's validator, which does
// not assert formats. The x-kubernetes-* extensions (list types, patch strategies, unions,
// the group-version-kind) matter to the API server and kubectl, not to JSON Schema.
func documentation(key string) bool {
	switch key {
	case "description", "format", "default", "example", "title", "externalDocs":
		return true
	}
	return strings.HasPrefix(key, "x-")
}

// Definitions returns the definitions named in roots and every definition they reference,
// from all (a swagger spec's definitions, which it does not modify). Each is made strict
// (Strict) and keeps only validation keywords, and its $refs "#/definitions/NAME" become
// refPrefix+NAME. An unknown keyword is an error, so a new Kubernetes version that adds one
// is noticed rather than dropped.
func Definitions(all map[string]any, roots []string, refPrefix string) (map[string]any, error) {
	out := map[string]any{}
	todo := append([]string(nil), roots...)
	for len(todo) > 0 {
		name := todo[0]
		todo = todo[1:]
		if _, done := out[name]; done {
			continue
		}
		src, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("no definition %s in the openapi spec", name)
		}
		def := Strict(name, deepCopy(src))
		var err error
		Walk(def, func(m map[string]any) {
			for key := range m {
				switch {
				case documentation(key):
					delete(m, key)
				case !validation[key] && err == nil:
					err = fmt.Errorf("definition %s: unknown keyword %q", name, key)
				}
			}
			ref, ok := m["$ref"].(string)
			if !ok {
				return
			}
			target, found := strings.CutPrefix(ref, swaggerRef)
			if !found && err == nil {
				err = fmt.Errorf("definition %s: $ref %q is not a local definition", name, ref)
			}
			todo = append(todo, target)
			m["$ref"] = refPrefix + target
		})
		if err != nil {
			return nil, err
		}
		out[name] = def
	}
	return out, nil
}

// Names returns the keys of defs, sorted.
func Names(defs map[string]any) []string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// deepCopy copies a decoded JSON value, so Strict and the keyword filter never change the
// caller's spec.
func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = deepCopy(x)
		}
		return m
	case []any:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = deepCopy(x)
		}
		return l
	}
	return v
}
