package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/distribution/reference"
	"sigs.k8s.io/kind/pkg/cluster/constants"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// LoadImageArchives loads each docker-save tarball into every node's containerd that does not
// hold its image yet.
func (c *Cluster) LoadImageArchives(ctx context.Context, paths ...string) error {
	return c.loadArchives(ctx, "", paths)
}

// LoadImageArchivesOnControlPlane loads each tarball into the control-plane node only: enough
// for pods pinned there, and a third of the time on a 1+2 node cluster.
func (c *Cluster) LoadImageArchivesOnControlPlane(ctx context.Context, paths ...string) error {
	return c.loadArchives(ctx, constants.ControlPlaneNodeRoleValue, paths)
}

// HasImageArchive reports whether every node already holds the images of the tarball at path,
// each under its tag and with the same config digest (the image ID).
func (c *Cluster) HasImageArchive(ctx context.Context, path string) (bool, error) {
	targets, err := c.nodesOf("")
	if err != nil {
		return false, err
	}
	want, err := archivedImages(path)
	if err != nil {
		return false, err
	}
	for _, n := range targets {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		images, err := containerdImages(n)
		if err != nil {
			return false, err
		}
		if has, err := holds(n, images, want); err != nil || !has {
			return false, err
		}
	}
	return true, nil
}

// loadArchives loads the tarballs into the nodes of role, or into every node when role is "".
// A node that already holds a tarball's images is skipped, as `kind load docker-image` skips a
// node with the image ID: a reused cluster holds every image the last run loaded, and loading
// them again cost a warm test run about two minutes of serialised imports (Argo CD's, the Git
// server's and PostgreSQL's Debian images are 0.3-0.6 GB each) before the stacks could start.
func (c *Cluster) loadArchives(ctx context.Context, role string, paths []string) error {
	targets, err := c.nodesOf(role)
	if err != nil {
		return err
	}
	// Each node's image list is read once per call, not once per tarball: a list older than an
	// import by another process only costs that import again.
	listed := make([]map[string]string, len(targets))
	for i, n := range targets {
		if listed[i], err = containerdImages(n); err != nil {
			return err
		}
	}
	for _, p := range paths {
		began := time.Now()
		want, err := archivedImages(p)
		if err != nil {
			return err
		}
		loaded := 0
		for i, n := range targets {
			if err := ctx.Err(); err != nil {
				return err
			}
			has, err := holds(n, listed[i], want)
			if err != nil {
				return err
			}
			if has {
				continue
			}
			if err := loadArchive(n, p); err != nil {
				return err
			}
			loaded++
		}
		if loaded == 0 {
			c.log("%s already in %d node(s): not loaded again (checked in %s)", filepath.Base(p), len(targets), time.Since(began).Round(10*time.Millisecond))
			continue
		}
		c.log("loaded %s into %d node(s) in %s", filepath.Base(p), loaded, time.Since(began).Round(100*time.Millisecond))
	}
	return nil
}

// nodesOf lists the cluster's nodes of role, or all of them when role is "".
func (c *Cluster) nodesOf(role string) ([]nodes.Node, error) {
	all, err := c.provider.ListNodes(c.Name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of cluster %s: %w", c.Name, err)
	}
	var targets []nodes.Node
	for _, n := range all {
		r, err := n.Role()
		if err != nil {
			return nil, fmt.Errorf("role of node %s: %w", n.String(), err)
		}
		if role == "" || r == role {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("cluster %s has no %s node to load images into", c.Name, role)
	}
	return targets, nil
}

func loadArchive(node nodes.Node, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open image archive: %w", err)
	}
	defer f.Close()
	if err := nodeutils.LoadImageArchive(node, f); err != nil {
		return fmt.Errorf("load %s into node %s: %w", path, node.String(), err)
	}
	return nil
}

// archivedImage is one image of a docker-save tarball: the name containerd stores it under
// and its config digest.
type archivedImage struct {
	ref, config string
}

// archivedImages reads the manifest.json of the docker-save tarball at p. Docker names a
// config "<hex>.json" (or "blobs/sha256/<hex>" since 25), go-containerregistry "sha256:<hex>";
// each is the image's config digest.
func archivedImages(p string) ([]archivedImage, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("open image archive: %w", err)
	}
	defer f.Close()
	tr := tar.NewReader(f) // skips entries with Seek: a 0.6 GB tarball is read in milliseconds
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("image archive %s has no manifest.json", p)
		}
		if err != nil {
			return nil, fmt.Errorf("read image archive %s: %w", p, err)
		}
		if path.Clean(h.Name) != "manifest.json" {
			continue
		}
		var manifest []struct {
			Config   string
			RepoTags []string
		}
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			return nil, fmt.Errorf("decode manifest.json of %s: %w", p, err)
		}
		var out []archivedImage
		for _, m := range manifest {
			hex := strings.TrimSuffix(strings.TrimPrefix(path.Base(m.Config), "sha256:"), ".json")
			if len(hex) != 64 {
				return nil, fmt.Errorf("image archive %s: config %q is not named by its digest", p, m.Config)
			}
			for _, tag := range m.RepoTags {
				named, err := reference.ParseNormalizedNamed(tag)
				if err != nil {
					return nil, fmt.Errorf("image archive %s: tag %q: %w", p, tag, err)
				}
				out = append(out, archivedImage{ref: named.String(), config: "sha256:" + hex})
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("image archive %s names no tagged image", p)
		}
		return out, nil
	}
}

// containerdImages lists the refs node's containerd holds in namespace k8s.io (the kubelet's), each
// with its manifest digest.
func containerdImages(node nodes.Node) (map[string]string, error) {
	list, err := nodeOutput(node, "ctr", "--namespace=k8s.io", "images", "list")
	if err != nil {
		return nil, err
	}
	images := map[string]string{}
	for _, line := range strings.Split(list, "\n")[1:] {
		if f := strings.Fields(line); len(f) >= 3 {
			images[f[0]] = f[2]
		}
	}
	return images, nil
}

// holds reports whether node, whose images containerdImages listed, has each image under its ref
// with its config. A ref that points elsewhere (the tag rebuilt) or is gone (the kubelet's
// image garbage collection) is not held.
func holds(node nodes.Node, images map[string]string, want []archivedImage) (bool, error) {
	for _, w := range want {
		digest, ok := images[w.ref]
		if !ok {
			return false, nil
		}
		raw, err := nodeOutput(node, "ctr", "--namespace=k8s.io", "content", "get", digest)
		if err != nil {
			return false, err
		}
		var m struct {
			Config struct{ Digest string }
		}
		// An index (a multi-platform image) has no config: it is loaded again, which is correct,
		// only slower.
		if err := json.Unmarshal([]byte(raw), &m); err != nil || m.Config.Digest != w.config {
			return false, nil
		}
	}
	return true, nil
}

func nodeOutput(node nodes.Node, name string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	if err := node.Command(name, args...).SetStdout(&out).SetStderr(&errOut).Run(); err != nil {
		return "", fmt.Errorf("%s %s on node %s: %w: %s", name, strings.Join(args, " "), node.String(), err, bytes.TrimSpace(errOut.Bytes()))
	}
	return out.String(), nil
}
