//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// sharedStack marks this test binary as a user of a stack it installs into the shared
// cluster (metrics-server, the monitoring, ingress and GitOps stacks), so that another test
// binary on this machine, run from another shell or checkout at the same time, does not
// remove it from under this one. Each user holds a shared flock from before its install
// until it exits; the stack is removed only by a binary that can then take the lock
// exclusively, that is, when no other binary still uses it. An flock, not a marker in the
// cluster, because it goes with the process: a killed binary leaves no stale user behind.
type sharedStack struct {
	name string
	f    *os.File
}

// useStack takes the shared lock of the stack name, waiting while another binary removes it.
func useStack(name string) (*sharedStack, error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "ai-assistant-chart-stack-"+name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the lock of stack %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock stack %s: %w", name, err)
	}
	return &sharedStack{name: name, f: f}, nil
}

// remove runs uninstall unless another binary still uses the stack (then it says so and
// leaves it: an install is idempotent, so the next run reuses it). A nil stack was never
// installed by this binary.
func (s *sharedStack) remove(uninstall func() error) error {
	if s == nil {
		return nil
	}
	defer s.f.Close()
	if err := syscall.Flock(int(s.f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(os.Stderr, "leaving %s installed: another test binary on this machine uses it\n", s.name)
		return nil
	}
	return uninstall()
}

// Two users of one stack (flocks belong to open files, so two in one process stand for two
// binaries): the first to finish leaves the stack, the last removes it.
func TestSharedStackIsRemovedByItsLastUser(t *testing.T) {
	parallel(t)
	name := fmt.Sprintf("test-%d", os.Getpid())
	t.Cleanup(func() { os.Remove(filepath.Join(os.TempDir(), "ai-assistant-chart-stack-"+name+".lock")) })
	first, err := useStack(name)
	if err != nil {
		t.Fatal(err)
	}
	second, err := useStack(name)
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	uninstall := func() error { removed++; return nil }
	if err := first.remove(uninstall); err != nil || removed != 0 {
		t.Fatalf("first user done while the second still uses it: removed %d times (err %v), want 0", removed, err)
	}
	if err := second.remove(uninstall); err != nil || removed != 1 {
		t.Fatalf("last user done: removed %d times (err %v), want 1", removed, err)
	}
	var never *sharedStack
	if err := never.remove(uninstall); err != nil || removed != 1 {
		t.Errorf("a binary that never installed removed the stack")
	}
}
