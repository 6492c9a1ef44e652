package chartschema

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const schema = `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "required": [
    "a"
  ],
  "definitions": {
    "io.k8s.Old": {
      "type": "string"
    },
    "local": {
      "type": "string",   "pattern": "^<[a-z]>$"
    },
    "io.k8s.Stale": {},
    "other": {
      "$ref": "#/definitions/io.k8s.B"
    }
  },
  "properties": {
    "a": {"$ref": "#/definitions/local"}
  }
}
`

func TestSpliceReplacesOnlyTheKubernetesDefinitions(t *testing.T) {
	t.Parallel()
	defs := map[string]any{
		"io.k8s.B": map[string]any{"type": "object", "properties": map[string]any{"type": map[string]any{"type": "string", "pattern": "^<&>$"}}, "additionalProperties": false},
		"io.k8s.A": map[string]any{"type": []any{"string", "integer"}},
		"io.k8s.C": map[string]any{},
	}
	got, err := Splice([]byte(schema), "io.k8s.", defs)
	require.NoError(t, err)
	want := `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "required": [
    "a"
  ],
  "definitions": {
    "local": {
      "type": "string",   "pattern": "^<[a-z]>$"
    },
    "other": {
      "$ref": "#/definitions/io.k8s.B"
    },
    "io.k8s.A": {
      "type": [
        "string",
        "integer"
      ]
    },
    "io.k8s.B": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "type": {
          "type": "string",
          "pattern": "^<&>$"
        }
      }
    },
    "io.k8s.C": {}
  },
  "properties": {
    "a": {"$ref": "#/definitions/local"}
  }
}
`
	assert.Equal(t, want, string(got))

	again, err := Splice(got, "io.k8s.", defs)
	require.NoError(t, err)
	assert.Equal(t, string(got), string(again), "idempotent")
}

func TestSpliceEmptyDefinitions(t *testing.T) {
	t.Parallel()
	in := "{\n  \"definitions\": {},\n  \"type\": \"object\"\n}"
	got, err := Splice([]byte(in), "io.k8s.", map[string]any{"io.k8s.A": map[string]any{"type": "string"}})
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"definitions\": {\n    \"io.k8s.A\": {\n      \"type\": \"string\"\n    }\n  },\n  \"type\": \"object\"\n}", string(got))

	none, err := Splice(got, "io.k8s.", nil)
	require.NoError(t, err)
	assert.Equal(t, in, string(none), "removing every definition leaves {}")
}

func TestSpliceErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, schema string
		defs         map[string]any
		want         string
	}{
		{name: "no definitions", schema: `{"properties": {"definitions": {}}}`, want: "no top-level definitions"},
		{name: "definitions not an object", schema: `{"definitions": []}`, want: "definitions"},
		{name: "not JSON", schema: `{"definitions": {"a": }`, want: "definition a"},
		{name: "a definition outside the prefix", schema: `{"definitions": {}}`, defs: map[string]any{"local": map[string]any{}}, want: "does not start with io.k8s."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Splice([]byte(tc.schema), "io.k8s.", tc.defs)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
