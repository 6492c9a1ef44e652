package debimage

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AptSourcesGlob lists the machine's apt configuration files that name its Debian mirror.
var AptSourcesGlob = []string{"/etc/apt/sources.list", "/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources"}

// Mirror returns the first Debian archive URI (not the security archive) configured for apt
// on this machine. The mirror is read at run time so that no host name lives in the repository.
func Mirror() (string, error) {
	for _, pattern := range AptSourcesGlob {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				continue
			}
			uri := ParseMirror(f, strings.HasSuffix(p, ".sources"))
			f.Close()
			if uri != "" {
				return uri, nil
			}
		}
	}
	return "", fmt.Errorf("no debian mirror found in %s", strings.Join(AptSourcesGlob, ", "))
}

// ParseMirror returns the first main-archive URI in a one-line-style sources.list (deb822
// false) or a deb822 .sources file, skipping security archives, deb-src and commented lines.
func ParseMirror(r io.Reader, deb822 bool) string {
	sc := bufio.NewScanner(r)
	if !deb822 {
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 || fields[0] != "deb" {
				continue
			}
			// Skip options like [arch=amd64 signed-by=...].
			i := 1
			if strings.HasPrefix(fields[i], "[") {
				for i < len(fields) && !strings.HasSuffix(fields[i], "]") {
					i++
				}
				i++
			}
			if i+1 < len(fields) && isMainArchive(fields[i], fields[i+1]) {
				return strings.TrimSuffix(fields[i], "/")
			}
		}
		return ""
	}
	// deb822: stanzas separated by blank lines.
	var types, uris, suites string
	flush := func() string {
		defer func() { types, uris, suites = "", "", "" }()
		if !strings.Contains(" "+types+" ", " deb ") {
			return ""
		}
		for _, u := range strings.Fields(uris) {
			suite := ""
			if s := strings.Fields(suites); len(s) > 0 {
				suite = s[0]
			}
			if isMainArchive(u, suite) {
				return strings.TrimSuffix(u, "/")
			}
		}
		return ""
	}
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			if u := flush(); u != "" {
				return u
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "types":
			types = strings.TrimSpace(v)
		case "uris":
			uris = strings.TrimSpace(v)
		case "suites":
			suites = strings.TrimSpace(v)
		}
	}
	return flush()
}

func isMainArchive(uri, suite string) bool {
	return !strings.Contains(uri, "security") && !strings.Contains(suite, "security")
}
