// Command images builds the ai-assistant and llm-standin image tarballs into .cache/images for
// every version in IMAGE_VERSIONS (default "v1.0.0 v2.0.0"), and the commands of
// imagebuild.Modules (metrics-server, the monitoring stack, the ingress stack) at their pinned releases, with no
// registry and no Docker daemon. Unchanged inputs are not rebuilt.
// `make images` runs it through hack/images.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

func main() {
	versions := os.Getenv("IMAGE_VERSIONS")
	if versions == "" {
		versions = "v1.0.0 v2.0.0"
	}
	out := flag.String("out", ".cache/images", "output directory")
	root := flag.String("repo", ".", "repository root")
	flag.StringVar(&versions, "versions", versions, "space-separated image versions (env IMAGE_VERSIONS)")
	flag.Parse()

	created := time.Unix(0, 0).UTC()
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: invalid SOURCE_DATE_EPOCH=%q: not an integer\n", v)
			os.Exit(1)
		}
		created = time.Unix(sec, 0).UTC()
	}
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: resolve repository root:", err)
		os.Exit(1)
	}
	b := &imagebuild.Builder{
		RepoRoot: absRoot, OutDir: filepath.Join(absRoot, *out), Created: created,
		Log:      func(f string, a ...any) { fmt.Fprintf(os.Stderr, "    "+f+"\n", a...) },
		CacheDir: imagebuild.MachineCacheDir(absRoot),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	for _, v := range strings.Fields(versions) {
		for _, img := range imagebuild.Images {
			r, err := b.Build(ctx, img, v)
			if err != nil {
				fmt.Fprintln(os.Stderr, "error:", err)
				os.Exit(1)
			}
			report(r, *out)
		}
	}
	// The metrics pipeline's and the monitoring stack's images (test/integration installs them).
	for _, m := range imagebuild.Modules {
		r, err := b.BuildModule(ctx, m)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		report(r, *out)
	}
}

func report(r imagebuild.Result, out string) {
	state := "built in " + r.Elapsed.Round(time.Millisecond).String()
	if r.UpToDate {
		state = "up to date"
	}
	fmt.Printf("%-22s %s  tarball %s  uncompressed %s  %s  (%s)\n", r.Tag, r.Info.Digest,
		mb(r.TarballSize), mb(r.Info.UncompressedSize), filepath.Join(out, filepath.Base(r.Path)), state)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }
