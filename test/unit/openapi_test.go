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

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/chartschema"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
)

// The schemas every rendered object is validated against, offline: the OpenAPI definitions
// published in the k8s.io/kubernetes module of the version we target (chartschema.LoadSwagger),
// and the CRDs shipped in the prometheus-operator module. Both come from the Go module cache
// (`go mod download`).
const prometheusOperatorModule = "github.com/prometheus-operator/prometheus-operator@v0.85.0"

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
	definitions, err := chartschema.LoadSwagger(repoRoot, kubeVersion)
	if err != nil {
		return nil, err
	}

	o := &openAPI{
		compiler: jsonschema.NewCompiler(),
		refs:     map[schema.GroupVersionKind]string{},
		compiled: map[schema.GroupVersionKind]*jsonschema.Schema{},
	}
	o.compiler.DefaultDraft(jsonschema.Draft4)

	for name, def := range definitions {
		m, _ := def.(map[string]any)
		gvks, _ := m["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gm := g.(map[string]any)
			gvk := schema.GroupVersionKind{Group: gm["group"].(string), Version: gm["version"].(string), Kind: gm["kind"].(string)}
			o.refs[gvk] = "k8s.json#/definitions/" + name
		}
		definitions[name] = chartschema.Strict(name, def)
	}
	if err := o.compiler.AddResource("k8s.json", normalise(map[string]any{"definitions": definitions})); err != nil {
		return nil, fmt.Errorf("add kubernetes schema: %w", err)
	}

	promDir, err := gomod.Dir(repoRoot, prometheusOperatorModule)
	if err != nil {
		return nil, err
	}
	for _, file := range []string{"monitoring.coreos.com_servicemonitors.yaml", "monitoring.coreos.com_podmonitors.yaml", "monitoring.coreos.com_prometheusrules.yaml"} {
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

// strictCRD makes a structural CRD schema reject unknown fields except where the CRD keeps
// them on purpose, and lets `nullable` fields be null as the API server does.
func strictCRD(s any) any {
	return chartschema.Walk(s, func(m map[string]any) {
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
