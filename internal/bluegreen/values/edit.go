package values

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
)

// Edit sets the change's paths in a YAML values document, keeping its
// comments, key order and every other value.
func Edit(doc []byte, change Change) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	if root.Kind == 0 {
		root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("the values file is not a YAML mapping")
	}
	for _, path := range change.Paths() {
		if err := setPath(root.Content[0], strings.Split(path, "."), change[path]); err != nil {
			return nil, fmt.Errorf("set %s: %w", path, err)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("render yaml: %w", err)
	}
	return buf.Bytes(), nil
}

func setPath(m *yaml.Node, keys []string, value any) error {
	_, unset := value.(snapshot.Unset)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != keys[0] {
			continue
		}
		if len(keys) == 1 && unset {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return nil
		}
		if len(keys) == 1 {
			return setScalar(m.Content[i+1], value)
		}
		if unset && m.Content[i+1].Kind != yaml.MappingNode {
			return nil // nothing there to remove
		}
		next := m.Content[i+1]
		if next.Kind != yaml.MappingNode {
			if next.Tag != "!!null" {
				return fmt.Errorf("%s is not a mapping", keys[0])
			}
			*next = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		return setPath(next, keys[1:], value)
	}
	if unset {
		return nil // the key is not there: nothing to remove
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: keys[0]}
	val := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, key, val)
	if len(keys) == 1 {
		return setScalar(val, value)
	}
	return setPath(val, keys[1:], value)
}

func setScalar(n *yaml.Node, value any) error {
	var v yaml.Node
	if err := v.Encode(value); err != nil {
		return err
	}
	// Keep the comments that were on the old value.
	v.HeadComment, v.LineComment, v.FootComment = n.HeadComment, n.LineComment, n.FootComment
	if s, ok := value.(string); ok && s == "" {
		v.Style = yaml.DoubleQuotedStyle
	}
	*n = v
	return nil
}
