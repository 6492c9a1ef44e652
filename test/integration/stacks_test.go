//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// suiteStack is a stack this test binary installs into the shared cluster at most once, when
// a test first needs it, and that TestMain removes after the suite (removeStacks) unless
// another binary on the machine still uses it (sharedStack).
type suiteStack struct {
	name string
	once sync.Once
	err  error
	use  *sharedStack
	// remove uninstalls the stack; set once this binary has started to install it.
	remove func(context.Context) error
}

var (
	stacksMu    sync.Mutex
	suiteStacks []*suiteStack // in the order they were first installed
)

// ensure runs install once per binary, bounded by timeout, with progress lines on stderr
// prefixed by the stack's name. It takes the stack's shared lock first; remove, which undoes
// install, runs after the suite even when install failed part way. A later call returns the
// first call's error.
func (s *suiteStack) ensure(timeout time.Duration, install func(ctx context.Context, logf func(string, ...any)) error, remove func(context.Context) error) error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "    "+s.name+": "+f+"\n", a...) }
		if s.use, s.err = useStack(s.name); s.err != nil {
			return
		}
		s.remove = remove
		stacksMu.Lock()
		suiteStacks = append(suiteStacks, s)
		stacksMu.Unlock()
		s.err = install(ctx, logf)
	})
	return s.err
}

// removeStacks removes, latest installed first, every stack this binary installed that no
// other binary still uses.
func removeStacks() error {
	stacksMu.Lock()
	defer stacksMu.Unlock()
	var errs []error
	for i := len(suiteStacks) - 1; i >= 0; i-- {
		s := suiteStacks[i]
		err := s.use.remove(func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			fmt.Fprintf(os.Stderr, "removing %s after the suite\n", s.name)
			return s.remove(ctx)
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

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
