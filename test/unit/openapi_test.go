package unit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
)

// The schemas every rendered object is validated against, offline: the OpenAPI definitions
// published in the k8s.io/kubernetes module of the version we target, and the CRDs shipped in
// the prometheus-operator module. Both come from the Go module cache (`go mod download`).
const (
	kubernetesModule         = "k8s.io/kubernetes@" + kubeVersion
	prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
)

// openAPI compiles schemas per GroupVersionKind on first use and caches them.
type openAPI struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	refs     map[schema.GroupVersionKind]string
	compiled map[schema.GroupVersionKind]*jsonschema.Schema
}

var (
	openAPIOnce sync.Once
	openAPIInst *openAPI
	openAPIErr  error
)

// kubeSchemas returns the shared validator, loading it on first use.
func kubeSchemas(t testing.TB) *openAPI {
	t.Helper()
	openAPIOnce.Do(func() { openAPIInst, openAPIErr = loadOpenAPI() })
	require.NoError(t, openAPIErr, "load OpenAPI schemas")
	return openAPIInst
}

func loadOpenAPI() (*openAPI, error) {
	k8sDir, err := gomod.Dir(repoRoot, kubernetesModule)
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

	o := &openAPI{
		compiler: jsonschema.NewCompiler(),
		refs:     map[schema.GroupVersionKind]string{},
		compiled: map[schema.GroupVersionKind]*jsonschema.Schema{},
	}
	o.compiler.DefaultDraft(jsonschema.Draft4)

	for name, def := range spec.Definitions {
		m, _ := def.(map[string]any)
		gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gm := g.(map[string]any)
			gvk := schema.GroupVersionKind{Group: gm["group"].(string), Version: gm["version"].(string), Kind: gm["kind"].(string)}
			o.refs[gvk] = "k8s.json#/definitions/" + name
		}
		spec.Definitions[name] = strictK8s(name, def)
	}
	if err := o.compiler.AddResource("k8s.json", normalise(map[string]any{"definitions": spec.Definitions})); err != nil {
		return nil, fmt.Errorf("add kubernetes schema: %w", err)
	}

	promDir, err := gomod.Dir(repoRoot, prometheusOperatorModule)
	if err != nil {
		return nil, err
	}
	for _, file := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
		if err := o.addCRD(filepath.Join(promDir, "example", "prometheus-operator-crd", file)); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// addCRD registers each served version of a CRD's openAPIV3Schema, made strict.
func (o *openAPI) addCRD(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CRD: %w", err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		return fmt.Errorf("parse CRD %s: %w", path, err)
	}
	for _, v := range crd.Spec.Versions {
		b, err := json.Marshal(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return err
		}
		var s any
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		url := fmt.Sprintf("%s_%s.json", crd.Name, v.Name)
		if err := o.compiler.AddResource(url, normalise(strictCRD(s))); err != nil {
			return fmt.Errorf("add CRD schema %s: %w", url, err)
		}
		o.refs[schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind}] = url
	}
	return nil
}

// schemaFor compiles (once) the schema of a GroupVersionKind.
func (o *openAPI) schemaFor(gvk schema.GroupVersionKind) (*jsonschema.Schema, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.compiled[gvk]; ok {
		return s, nil
	}
	ref, ok := o.refs[gvk]
	if !ok {
		return nil, fmt.Errorf("no schema for %s in Kubernetes %s or the prometheus-operator CRDs", gvk, kubeVersion)
	}
	s, err := o.compiler.Compile(ref)
	if err != nil {
		return nil, fmt.Errorf("compile schema of %s: %w", gvk, err)
	}
	o.compiled[gvk] = s
	return s, nil
}

// validate checks one YAML document against the schema of its apiVersion and kind.
func (o *openAPI) validate(docYAML string) error {
	j, err := yaml.YAMLToJSON([]byte(docYAML))
	if err != nil {
		return fmt.Errorf("yaml to json: %w", err)
	}
	var head struct{ APIVersion, Kind string }
	if err := json.Unmarshal(j, &head); err != nil {
		return err
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return err
	}
	s, err := o.schemaFor(gv.WithKind(head.Kind))
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// strictK8s makes a Kubernetes definition reject unknown fields (the API server prunes or
// rejects them, so a template that writes one is wrong) and fixes the two types whose
// swagger form is narrower than what the API server accepts.
func strictK8s(name string, def any) any {
	switch name {
	case "io.k8s.apimachinery.pkg.util.intstr.IntOrString":
		return map[string]any{"type": []any{"string", "integer"}}
	case "io.k8s.apimachinery.pkg.api.resource.Quantity":
		return map[string]any{"type": []any{"string", "number"}}
	}
	return walk(def, func(m map[string]any) {
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
	})
}

// strictCRD makes a structural CRD schema reject unknown fields except where the CRD keeps
// them on purpose, and lets `nullable` fields be null as the API server does.
func strictCRD(s any) any {
	return walk(s, func(m map[string]any) {
		if m["x-kubernetes-preserve-unknown-fields"] == true {
			return
		}
		if _, ok := m["properties"]; ok {
			if _, set := m["additionalProperties"]; !set {
				m["additionalProperties"] = false
			}
		}
		if m["x-kubernetes-int-or-string"] == true {
			delete(m, "type")
		}
		if m["nullable"] == true {
			if t, ok := m["type"].(string); ok {
				m["type"] = []any{t, "null"}
			}
		}
	})
}

// walk applies fn to every schema object in the schema v, children first, and returns v. It
// follows schema keywords only, so a property named "properties" is not mistaken for one.
func walk(v any, fn func(map[string]any)) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, p := range props {
			walk(p, fn)
		}
	}
	for _, key := range []string{"items", "additionalProperties", "not"} {
		walk(m[key], fn)
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if list, ok := m[key].([]any); ok {
			for _, s := range list {
				walk(s, fn)
			}
		}
	}
	fn(m)
	return v
}

// normalise round-trips through the validator's own JSON decoder, so numbers are json.Number
// as the compiler expects.
func normalise(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	out, err := jsonschema.UnmarshalJSON(strings.NewReader(string(b)))
	if err != nil {
		panic(err)
	}
	return out
}
