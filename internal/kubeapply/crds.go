package kubeapply

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// ReadCRDs decodes every CustomResourceDefinition in dir's *.yaml files, in file name order;
// anything else in them is an error, so a wrong directory is not applied.
func ReadCRDs(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list CRDs: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %q", dir)
	}
	sort.Strings(files)
	var crds []*unstructured.Unstructured
	for _, f := range files {
		objs, err := ReadYAML(f)
		if err != nil {
			return nil, err
		}
		for _, u := range objs {
			if u.GroupVersionKind() != apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition") {
				return nil, fmt.Errorf("%s: %s %s is not a CustomResourceDefinition", f, u.GroupVersionKind(), u.GetName())
			}
			crds = append(crds, u)
		}
	}
	return crds, nil
}

// ReadYAML decodes every object of a multi-document YAML (or JSON) file; empty documents are
// skipped.
func ReadYAML(path string) ([]*unstructured.Unstructured, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}
