package imagebuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A module built in a directory of its own (the way modules with replace directives are
// built) takes its build tags, lands in the image, and is rebuilt when its go.mod changes and
// only then.
func TestBuildModuleInItsOwnDirectory(t *testing.T) {
	root := repoRoot(t)
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/small\n\ngo 1.24\n")
	write("go.sum", "")
	write("cmd/hello/main.go", "package main\n\nimport \"fmt\"\n\nvar tag = \"untagged\"\n\nfunc main() { fmt.Print(tag) }\n")
	write("cmd/hello/tag.go", "//go:build shout\n\npackage main\n\nfunc init() { tag = \"shout\" }\n")
	rel, err := filepath.Rel(root, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := Module{Name: "hello", Package: "./cmd/hello", Version: "v0.0.1", Dir: rel, Tags: []string{"shout"}}
	machine := t.TempDir()
	b := &Builder{RepoRoot: root, OutDir: t.TempDir(), Created: time.Unix(0, 0), Log: t.Logf, CacheDir: machine}
	ctx := context.Background()

	first, err := b.BuildModule(ctx, m)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "hello")
	extract(t, first.Path, "usr/local/bin/hello", bin)
	if out, err := exec.Command(bin).Output(); err != nil || string(out) != "shout" {
		t.Errorf("binary from the image says %q (%v), want the tagged build's %q", out, err, "shout")
	}

	// A fresh clone (another OutDir, no stamp) on the same machine takes the tarball from the
	// machine cache instead of building it again.
	clone := &Builder{RepoRoot: root, OutDir: t.TempDir(), Created: time.Unix(0, 0), Log: t.Logf, CacheDir: machine}
	cached, err := clone.BuildModule(ctx, m)
	if err != nil || !cached.UpToDate {
		t.Fatalf("fresh clone: up to date %v, err %v; want the machine cache's tarball", cached.UpToDate, err)
	}
	if cached.Info.Digest != first.Info.Digest {
		t.Errorf("fresh clone's image %s, want the one built %s", cached.Info.Digest, first.Info.Digest)
	}
	again, err := b.BuildModule(ctx, m)
	if err != nil || !again.UpToDate {
		t.Errorf("unchanged inputs: up to date %v, err %v; want reused", again.UpToDate, err)
	}
	write("go.mod", "module example.com/small\n\ngo 1.25\n")
	changed, err := b.BuildModule(ctx, m)
	if err != nil || changed.UpToDate {
		t.Errorf("go.mod changed: up to date %v, err %v; want rebuilt", changed.UpToDate, err)
	}
	// A main of the module's own (as cert-manager's controller is) is part of the inputs.
	write("cmd/hello/main.go", "package main\n\nimport \"fmt\"\n\nvar tag = \"untagged, edited\"\n\nfunc main() { fmt.Print(tag) }\n")
	edited, err := b.BuildModule(ctx, m)
	if err != nil || edited.UpToDate {
		t.Errorf("a Go file of the module changed: up to date %v, err %v; want rebuilt", edited.UpToDate, err)
	}
	m.Tags = nil
	untagged, err := b.BuildModule(ctx, m)
	if err != nil || untagged.UpToDate {
		t.Fatalf("tags changed: up to date %v, err %v; want rebuilt", untagged.UpToDate, err)
	}
	extract(t, untagged.Path, "usr/local/bin/hello", bin)
	if out, _ := exec.Command(bin).Output(); !strings.Contains(string(out), "untagged") {
		t.Errorf("binary built without tags says %q, want untagged", out)
	}
}
