// Command schemagen writes the Kubernetes definitions (io.k8s.*) that the chart's values
// refer to into charts/ai-assistant/values.schema.json, from the OpenAPI spec of the
// Kubernetes version the project targets (k8s.io/kubernetes in the Go module cache). Every
// other byte of the file stays as written; see internal/chartschema. Run it from the
// repository root (hack/schema.sh does); -check fails instead of writing when the file is
// stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/chartschema"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kindnode"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "schemagen:", err)
		os.Exit(1)
	}
}

func run() error {
	path := flag.String("schema", "charts/ai-assistant/values.schema.json", "the schema to update")
	kube := flag.String("kube-version", kindnode.DefaultKubernetesVersion, "Kubernetes version whose OpenAPI definitions are used")
	check := flag.Bool("check", false, "fail when the schema is stale instead of writing it")
	flag.Parse()

	all, err := chartschema.LoadSwagger(".", *kube)
	if err != nil {
		return err
	}
	defs, err := chartschema.Definitions(all, chartschema.Roots, "#/definitions/")
	if err != nil {
		return err
	}
	old, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	updated, err := chartschema.Splice(old, chartschema.Prefix, defs)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	switch {
	case bytes.Equal(old, updated):
		fmt.Printf("%s: %d Kubernetes definitions, current\n", *path, len(defs))
		return nil
	case *check:
		return fmt.Errorf("%s is stale: run 'make schema' and commit it", *path)
	}
	info, err := os.Stat(*path)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*path, updated, info.Mode().Perm()); err != nil {
		return err
	}
	fmt.Printf("%s: wrote %d Kubernetes definitions (%d bytes)\n", *path, len(defs), len(updated))
	return nil
}
