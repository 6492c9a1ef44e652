package kindnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strings"
)

// moduleInfo is the part of `go mod download -json` / `go list -m -json` output we read.
type moduleInfo struct {
	Path    string
	Version string
	Dir     string
	GoMod   string
	Error   string
}

// downloadModule fetches module@version into the module cache and returns where it is.
func downloadModule(ctx context.Context, dir, module, version string) (moduleInfo, error) {
	c := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	c.Dir = dir
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	var mi moduleInfo
	if jerr := json.Unmarshal(out, &mi); jerr == nil && mi.Error != "" {
		return mi, fmt.Errorf("download %s@%s: %s", module, version, mi.Error)
	}
	if err != nil {
		return mi, fmt.Errorf("download %s@%s: %w: %s", module, version, err, strings.TrimSpace(stderr.String()))
	}
	if err := json.Unmarshal(out, &mi); err != nil {
		return mi, fmt.Errorf("parse go mod download output for %s: %w", module, err)
	}
	return mi, nil
}

// mainModuleDep returns the version and directory of a dependency of the repository's module.
func mainModuleDep(ctx context.Context, repoRoot, module string) (moduleInfo, error) {
	c := exec.CommandContext(ctx, "go", "list", "-m", "-json", module)
	c.Dir = repoRoot
	out, err := c.Output()
	if err != nil {
		return moduleInfo{}, fmt.Errorf("go list -m %s: %w", module, err)
	}
	var mi moduleInfo
	if err := json.Unmarshal(out, &mi); err != nil {
		return mi, fmt.Errorf("parse go list output for %s: %w", module, err)
	}
	if mi.Dir == "" {
		return downloadModule(ctx, repoRoot, module, mi.Version)
	}
	return mi, nil
}

var stagingReplace = regexp.MustCompile(`^\s*(k8s\.io/[A-Za-z0-9._-]+)\s+=>\s+\./staging/`)

// StagingModules lists the k8s.io modules that k8s.io/kubernetes's go.mod replaces with its
// own ./staging directories: a module depending on k8s.io/kubernetes must replace each of them
// with its published version, or they resolve to the unusable v0.0.0.
func StagingModules(kubernetesGoMod []byte) []string {
	var mods []string
	sc := bufio.NewScanner(bytes.NewReader(kubernetesGoMod))
	for sc.Scan() {
		if m := stagingReplace.FindStringSubmatch(sc.Text()); m != nil {
			mods = append(mods, m[1])
		}
	}
	sort.Strings(mods)
	return mods
}

// StagingVersion maps a Kubernetes version to its staging modules' version: v1.37.2 -> v0.37.2.
func StagingVersion(kubernetesVersion string) (string, error) {
	rest, ok := strings.CutPrefix(kubernetesVersion, "v1.")
	if !ok || rest == "" {
		return "", fmt.Errorf("kubernetes version %q is not v1.x.y", kubernetesVersion)
	}
	return "v0." + rest, nil
}

// ScratchGoMod returns a go.mod requiring module@version with the given replacements.
func ScratchGoMod(name, goVersion, module, version string, replace map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "module %s\n\ngo %s\n\nrequire %s %s\n", name, goVersion, module, version)
	if len(replace) > 0 {
		keys := make([]string, 0, len(replace))
		for k := range replace {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("\nreplace (\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "\t%s => %s\n", k, replace[k])
		}
		b.WriteString(")\n")
	}
	return b.String()
}

// ToolsGo returns a tools.go importing each main package, so `go mod tidy` records them.
func ToolsGo(pkgs []string) string {
	var b strings.Builder
	b.WriteString("//go:build tools\n\npackage tools\n\nimport (\n")
	for _, p := range pkgs {
		fmt.Fprintf(&b, "\t_ %q\n", p)
	}
	b.WriteString(")\n")
	return b.String()
}
