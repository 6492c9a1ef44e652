package debimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// BaseOptions configures the debootstrap base image.
type BaseOptions struct {
	// Suite is the Debian release; default bookworm (the machine's own release, so its
	// configured mirror serves it).
	Suite string
	// Mirror is the Debian archive URI; default the machine's apt mirror (see Mirror).
	Mirror string
	// Repository is the image name; default ai-assistant-debian.
	Repository string
	// WorkDir holds the debootstrap root while it is imported; default os.TempDir().
	WorkDir string
}

func (o *BaseOptions) defaults() error {
	if o.Suite == "" {
		o.Suite = "bookworm"
	}
	if o.Repository == "" {
		o.Repository = "ai-assistant-debian"
	}
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	if o.Mirror == "" {
		m, err := Mirror()
		if err != nil {
			return err
		}
		o.Mirror = m
	}
	return nil
}

// baseRecipe is every choice that shapes the base image's content; it is hashed into the tag.
const baseRecipe = "debootstrap --variant=minbase; docker import; v1"

// BaseTag returns the tag the base image has for these options, without building it.
func BaseTag(o BaseOptions) (string, error) {
	if err := o.defaults(); err != nil {
		return "", err
	}
	h, err := Inputs{Values: map[string]string{"suite": o.Suite, "recipe": baseRecipe}}.Hash(12)
	if err != nil {
		return "", err
	}
	return o.Repository + ":" + o.Suite + "-" + h, nil
}

// EnsureBase returns the tag of a minimal Debian image made by debootstrap from the mirror,
// building it only when Docker does not have it yet.
func EnsureBase(ctx context.Context, steps *Steps, o BaseOptions) (string, error) {
	if err := o.defaults(); err != nil {
		return "", err
	}
	tag, err := BaseTag(o)
	if err != nil {
		return "", err
	}
	if ImageExists(ctx, tag) {
		steps.Logf("debian base %s exists: skipping debootstrap", tag)
		return tag, nil
	}
	err = steps.Run(ctx, "debian-base", func(ctx context.Context, st *Step) error {
		if err := EnsureHostPackages(ctx, st, map[string]string{"debootstrap": "debootstrap"}); err != nil {
			return err
		}
		// On a fresh checkout the work directory (under .cache) does not exist yet.
		if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
			return fmt.Errorf("create work directory: %w", err)
		}
		root, err := os.MkdirTemp(o.WorkDir, "debootstrap-")
		if err != nil {
			return fmt.Errorf("create debootstrap directory: %w", err)
		}
		defer os.RemoveAll(root)
		if err := st.Cmd(ctx, nil, "", nil, "debootstrap", "--variant=minbase", o.Suite, root, o.Mirror); err != nil {
			return err
		}
		// The image carries no package lists or caches: every later layer runs apt-get update.
		for _, d := range []string{"var/lib/apt/lists", "var/cache/apt/archives"} {
			_ = st.Cmd(ctx, nil, root, nil, "find", d, "-type", "f", "-delete")
		}
		script := fmt.Sprintf("tar -C %q -c . | docker import --change 'CMD [\"/bin/bash\"]' - %q", root, tag)
		return st.Cmd(ctx, nil, "", nil, "bash", "-o", "pipefail", "-c", script)
	})
	if err != nil {
		return "", err
	}
	return tag, nil
}

// EnsureHostPackages apt-installs the Debian packages whose command (the map key) is missing
// on the host; value is the package name.
func EnsureHostPackages(ctx context.Context, st *Step, cmdToPkg map[string]string) error {
	var missing []string
	for cmd, pkg := range cmdToPkg {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("need root to apt-get install %s", strings.Join(missing, " "))
	}
	env := []string{"DEBIAN_FRONTEND=noninteractive"}
	if err := st.Cmd(ctx, nil, "", env, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...); err != nil {
		// The package lists may be missing on a fresh machine: update once, then retry.
		if uerr := st.Cmd(ctx, nil, "", env, "apt-get", "update"); uerr != nil {
			return fmt.Errorf("apt-get update: %w", uerr)
		}
		return st.Cmd(ctx, nil, "", env, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
	}
	return nil
}
