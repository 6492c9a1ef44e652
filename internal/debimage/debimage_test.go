package debimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseMirror(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		text   string
		deb822 bool
		want   string
	}{
		{"deb822 skips security", "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n", true, "http://mirror.example/debian"},
		{"deb822 skips deb-src", "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://bin.example/debian\nSuites: bookworm\n", true, "http://bin.example/debian"},
		{"deb822 comment lines", "Types: deb\n# http://old.example/debian\nURIs: http://new.example/debian\nSuites: bookworm\n", true, "http://new.example/debian"},
		{"one-line with options", "# deb http://commented.example/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://opt.example/debian bookworm main\n", false, "http://opt.example/debian"},
		{"one-line security first", "deb http://x.example/debian-security bookworm-security main\ndeb http://x.example/debian bookworm main\n", false, "http://x.example/debian"},
		{"none", "deb-src http://x.example/debian bookworm main\n", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ParseMirror(strings.NewReader(tc.text), tc.deb822); got != tc.want {
				t.Errorf("ParseMirror() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestInputsHash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.go", "package a")
	base := Inputs{Values: map[string]string{"k": "v1.37.2", "go": "go1.26"}, Files: []string{"a.go"}, Root: dir}
	h1, err := base.Hash(12)
	if err != nil {
		t.Fatal(err)
	}
	if len(h1) != 12 {
		t.Fatalf("hash %q has length %d, want 12", h1, len(h1))
	}
	// Same inputs in another order and another checkout give the same hash.
	dir2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir2, "a.go"), []byte("package a"), 0o644); err != nil {
		t.Fatal(err)
	}
	same := Inputs{Values: map[string]string{"go": "go1.26", "k": "v1.37.2"}, Files: []string{"a.go"}, Root: dir2}
	if h, _ := same.Hash(12); h != h1 {
		t.Errorf("hash differs across checkouts: %q vs %q", h, h1)
	}
	changedValue := Inputs{Values: map[string]string{"k": "v1.37.3", "go": "go1.26"}, Files: []string{"a.go"}, Root: dir}
	if h, _ := changedValue.Hash(12); h == h1 {
		t.Errorf("changing a value kept hash %q", h)
	}
	write("a.go", "package a // changed")
	if h, _ := base.Hash(12); h == h1 {
		t.Errorf("changing a file kept hash %q", h)
	}
	if _, err := (Inputs{Files: []string{"missing.go"}, Root: dir}).Hash(12); err == nil {
		t.Error("hashing a missing file succeeded")
	}
}
