package chartschema

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(s), &m))
	return m
}

func TestDefinitionsTakesTheClosureStrictAndWithoutDocs(t *testing.T) {
	t.Parallel()
	spec := decode(t, `{
  "io.k8s.api.core.v1.A": {
    "description": "A.", "type": "object", "required": ["b"],
    "properties": {
      "b": {"$ref": "#/definitions/io.k8s.api.core.v1.B", "description": "the B"},
      "bs": {"type": "array", "items": {"$ref": "#/definitions/io.k8s.api.core.v1.B"}, "x-kubernetes-list-type": "atomic"},
      "port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "limits": {"type": "object", "additionalProperties": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity"}},
      "properties": {"type": "string", "format": "int-or-string"}
    },
    "x-kubernetes-group-version-kind": [{"group": "", "kind": "A", "version": "v1"}]
  },
  "io.k8s.api.core.v1.B": {"type": "object", "properties": {"n": {"type": "integer", "format": "int32", "default": 1}}},
  "io.k8s.api.core.v1.Unused": {"type": "object", "properties": {"x": {"type": "string"}}},
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "A quantity."}
}`)
	before := decode(t, mustJSON(t, spec))

	got, err := Definitions(spec, []string{"io.k8s.api.core.v1.A"}, "#/x/")
	require.NoError(t, err)
	want := decode(t, `{
  "io.k8s.api.core.v1.A": {
    "type": "object", "required": ["b"], "additionalProperties": false,
    "properties": {
      "b": {"$ref": "#/x/io.k8s.api.core.v1.B"},
      "bs": {"type": "array", "items": {"$ref": "#/x/io.k8s.api.core.v1.B"}},
      "port": {"$ref": "#/x/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
      "limits": {"type": "object", "additionalProperties": {"$ref": "#/x/io.k8s.apimachinery.pkg.api.resource.Quantity"}},
      "properties": {"type": "string"}
    }
  },
  "io.k8s.api.core.v1.B": {"type": "object", "additionalProperties": false, "properties": {"n": {"type": "integer"}}},
  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": ["string", "integer"]},
  "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": ["string", "number"]}
}`)
	assert.Empty(t, cmp.Diff(want, decode(t, mustJSON(t, got))), "(-want +got)")
	assert.Empty(t, cmp.Diff(before, spec), "the spec is not modified")
}

func TestDefinitionsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, spec, root, want string }{
		{name: "missing root", spec: `{}`, root: "io.k8s.X", want: "no definition io.k8s.X"},
		{name: "missing reference", spec: `{"io.k8s.X": {"properties": {"y": {"$ref": "#/definitions/io.k8s.Y"}}}}`, root: "io.k8s.X", want: "no definition io.k8s.Y"},
		{name: "unknown keyword", spec: `{"io.k8s.X": {"type": "object", "properties": {"y": {"type": "string", "nullable": true}}}}`, root: "io.k8s.X", want: `unknown keyword "nullable"`},
		{name: "remote reference", spec: `{"io.k8s.X": {"$ref": "other.json#/definitions/Y"}}`, root: "io.k8s.X", want: "not a local definition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Definitions(decode(t, tc.spec), []string{tc.root}, "#/definitions/")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestStrictKeepsAnExplicitAdditionalProperties(t *testing.T) {
	t.Parallel()
	def := decode(t, `{"properties": {"m": {"type": "object", "properties": {"a": {}}, "additionalProperties": true}}}`)
	got := Strict("io.k8s.X", def).(map[string]any)
	assert.Equal(t, false, got["additionalProperties"])
	assert.Equal(t, true, got["properties"].(map[string]any)["m"].(map[string]any)["additionalProperties"])
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
