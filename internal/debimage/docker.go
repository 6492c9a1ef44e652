package debimage

import (
	"context"
	"os/exec"
	"strings"
)

// ImageExists reports whether the local Docker engine has an image with this reference.
func ImageExists(ctx context.Context, ref string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Run() == nil
}

// ImageSize returns the image's size in bytes as Docker reports it, or 0 when unknown.
func ImageSize(ctx context.Context, ref string) int64 {
	out, err := exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Size}}", ref).Output()
	if err != nil {
		return 0
	}
	var n int64
	for _, c := range strings.TrimSpace(string(out)) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// Build runs a classic (non-BuildKit) docker build of contextDir tagged ref: this engine has no
// buildx, so Dockerfiles must not use BuildKit-only syntax.
func (st *Step) Build(ctx context.Context, contextDir, ref string) error {
	return st.Cmd(ctx, nil, contextDir, []string{"DOCKER_BUILDKIT=0"}, "docker", "build", "--network", "host", "-t", ref, ".")
}
