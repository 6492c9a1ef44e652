package chartschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// indentStep is the indentation of values.schema.json: two spaces a level.
const indentStep = "  "

// Splice returns the JSON schema document schema with the entries of its top-level
// `definitions` whose names start with prefix replaced by defs. Every byte outside
// `definitions` is unchanged; the other definitions keep their order and their text; the
// new ones follow them, sorted by name, indented two spaces a level. Splicing its own
// output again with the same defs returns it unchanged.
func Splice(schema []byte, prefix string, defs map[string]any) ([]byte, error) {
	for name := range defs {
		if !strings.HasPrefix(name, prefix) {
			return nil, fmt.Errorf("definition %s does not start with %s", name, prefix)
		}
	}
	span, err := findDefinitions(schema)
	if err != nil {
		return nil, err
	}
	indent := lineIndent(schema, span.keyStart) + indentStep

	var b bytes.Buffer
	b.Write(schema[:span.start])
	b.WriteByte('{')
	n := 0
	entry := func(key, value []byte) {
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		b.WriteString("\n" + indent)
		b.Write(key)
		b.WriteString(": ")
		b.Write(value)
	}
	for _, e := range span.entries {
		if !strings.HasPrefix(e.name, prefix) {
			entry(e.key, e.value)
		}
	}
	for _, name := range Names(defs) {
		key, err := encode(name, indent)
		if err != nil {
			return nil, err
		}
		value, err := encode(ordered(defs[name]), indent)
		if err != nil {
			return nil, fmt.Errorf("encode definition %s: %w", name, err)
		}
		entry(key, value)
	}
	if n > 0 {
		b.WriteString("\n" + lineIndent(schema, span.keyStart))
	}
	b.WriteByte('}')
	b.Write(schema[span.end:])
	return b.Bytes(), nil
}

// encode writes v as indented JSON whose continuation lines start with indent, without
// HTML escapes (a pattern's `<` stays `<`).
func encode(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(indent, indentStep)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// definitionsSpan locates the top-level `definitions` object in a schema's bytes.
type definitionsSpan struct {
	keyStart   int // the `"definitions"` key
	start, end int // the object, from its `{` to just after its `}`
	entries    []definitionEntry
}

// definitionEntry is one definition as written: its name, and the bytes of its key and value.
type definitionEntry struct {
	name       string
	key, value []byte
}

// findDefinitions walks the schema's tokens to the byte offsets of `definitions` and of
// each of its entries.
func findDefinitions(schema []byte) (*definitionsSpan, error) {
	dec := json.NewDecoder(bytes.NewReader(schema))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	for dec.More() {
		before := int(dec.InputOffset())
		key, err := stringToken(dec)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		if key != "definitions" {
			if err := skipValue(dec); err != nil {
				return nil, fmt.Errorf("schema %q: %w", key, err)
			}
			continue
		}
		span := &definitionsSpan{keyStart: tokenStart(schema, before)}
		span.start = valueStart(schema, int(dec.InputOffset()))
		if err := expectDelim(dec, '{'); err != nil {
			return nil, fmt.Errorf("schema definitions: %w", err)
		}
		for dec.More() {
			before := int(dec.InputOffset())
			name, err := stringToken(dec)
			if err != nil {
				return nil, fmt.Errorf("schema definitions: %w", err)
			}
			afterKey := int(dec.InputOffset())
			if err := skipValue(dec); err != nil {
				return nil, fmt.Errorf("schema definition %s: %w", name, err)
			}
			span.entries = append(span.entries, definitionEntry{
				name:  name,
				key:   schema[tokenStart(schema, before):afterKey],
				value: schema[valueStart(schema, afterKey):dec.InputOffset()],
			})
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, fmt.Errorf("schema definitions: %w", err)
		}
		span.end = int(dec.InputOffset())
		return span, nil
	}
	return nil, errors.New("schema has no top-level definitions")
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("got %v, want %q", tok, want)
	}
	return nil
}

func stringToken(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", fmt.Errorf("got %v, want a key", tok)
	}
	return s, nil
}

// skipValue reads one value, however deep.
func skipValue(dec *json.Decoder) error {
	var raw json.RawMessage
	err := dec.Decode(&raw)
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// tokenStart skips the whitespace and the comma the decoder passes before a token at off.
func tokenStart(b []byte, off int) int {
	for off < len(b) && (isSpace(b[off]) || b[off] == ',') {
		off++
	}
	return off
}

// valueStart skips the whitespace and the colon between a key ending at off and its value.
func valueStart(b []byte, off int) int {
	for off < len(b) && (isSpace(b[off]) || b[off] == ':') {
		off++
	}
	return off
}

// lineIndent returns the whitespace that starts the line holding offset off.
func lineIndent(b []byte, off int) string {
	start := bytes.LastIndexByte(b[:off], '\n') + 1
	end := start
	for end < off && (b[end] == ' ' || b[end] == '\t') {
		end++
	}
	return string(b[start:end])
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
