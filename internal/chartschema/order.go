package chartschema

import (
	"bytes"
	"encoding/json"
	"sort"
)

// keywordOrder is where a keyword goes in a written schema object, the order the
// hand-written part of values.schema.json uses: what it is, then what it holds. Other
// keywords follow, sorted.
var keywordOrder = map[string]int{
	"$ref": 1, "type": 2, "enum": 3,
	"additionalProperties": 4, "properties": 5, "required": 6,
	"items": 7,
}

// orderedObject is a JSON object written in the order of its keys.
type orderedObject struct {
	keys   []string
	values map[string]any
}

// MarshalJSON writes the object's members in order, without HTML escapes.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := enc.Encode(k); err != nil {
			return nil, err
		}
		b.WriteByte(':')
		if err := enc.Encode(o.values[k]); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// ordered returns the schema v with every schema object's keywords in keywordOrder and
// every map of names (properties) sorted by name.
func ordered(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	o := orderedObject{values: map[string]any{}}
	for k, x := range m {
		o.keys = append(o.keys, k)
		switch k {
		case "properties":
			props, _ := x.(map[string]any)
			names := orderedObject{keys: Names(props), values: map[string]any{}}
			for name, p := range props {
				names.values[name] = ordered(p)
			}
			o.values[k] = names
		case "items", "additionalProperties", "not":
			o.values[k] = ordered(x)
		case "allOf", "anyOf", "oneOf":
			list, _ := x.([]any)
			out := make([]any, len(list))
			for i, s := range list {
				out[i] = ordered(s)
			}
			o.values[k] = out
		default:
			o.values[k] = x
		}
	}
	sort.Slice(o.keys, func(i, j int) bool {
		ri, rj := rank(o.keys[i]), rank(o.keys[j])
		if ri != rj {
			return ri < rj
		}
		return o.keys[i] < o.keys[j]
	})
	return o
}

func rank(keyword string) int {
	if r, ok := keywordOrder[keyword]; ok {
		return r
	}
	return len(keywordOrder) + 1
}
