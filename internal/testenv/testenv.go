// Package testenv starts real PostgreSQL and Redis servers on loopback for tests: random free
// ports, data directories under t.TempDir(), stopped and removed by t.Cleanup. Each can be
// stopped and started again on the same port mid-test to exercise readiness recovery.
// A missing binary fails the test with the command that installs it (hack/test-deps.sh).
//
// StartKubeAPI starts a Kubernetes control plane the same way (etcd, kube-apiserver,
// kube-controller-manager), with binaries from the node-image build's cache (kubeapi.go).
package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/retry"
)

const installHint = "install it with hack/test-deps.sh (apt-get install postgresql redis-server)"

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a server started by a test, restartable with the same arguments.
type process struct {
	t       testing.TB
	name    string
	argv    []string
	cred    *syscall.Credential
	logPath string
	port    int
	// How the server is stopped, and how long it may take to answer ping after a start.
	stopSignal   syscall.Signal
	readyTimeout time.Duration
	ping         func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts the server (again) and waits until it answers.
func (p *process) Start(t testing.TB) {
	t.Helper()
	p.start()
	p.waitReady(p.readyTimeout, p.ping)
}

// Stop shuts the server down; a later Start brings it back on the same port and data.
func (p *process) Stop(t testing.TB) {
	t.Helper()
	p.stop(p.stopSignal)
}

func (p *process) start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("%s already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("open %s log: %v", p.name, err)
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	p.cmd, p.done = cmd, done
}

// stop sends sig and waits (bounded) for the process to exit, killing it past the deadline.
func (p *process) stop(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		p.t.Errorf("%s did not stop within 15s after %v; killed", p.name, sig)
	}
	p.cmd = nil
}

// exited reports whether the process died on its own (for a useful failure message).
func (p *process) exited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return true
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitReady polls ready until it succeeds or the deadline passes; a server that exits
// while starting fails the test at once, with its log.
func (p *process) waitReady(timeout time.Duration, ready func(ctx context.Context) error) {
	p.t.Helper()
	err := retry.Until(context.Background(), timeout, 50*time.Millisecond, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := ready(pctx)
		if err != nil && p.exited() {
			p.t.Fatalf("%s exited while starting: %v\nlog:\n%s", p.name, err, p.logTail())
		}
		return err
	})
	if err != nil {
		p.t.Fatalf("%s not ready on port %d: %v\nlog:\n%s", p.name, p.port, err, p.logTail())
	}
}

// lookBinary finds a server binary in PATH or in the given well-known directories.
func lookBinary(t testing.TB, name string, dirs ...string) string {
	t.Helper()
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s not found in %s or PATH: %s", name, strings.Join(dirs, ", "), installHint)
	return ""
}

// openDir makes t.TempDir() (and its parent, also test-private) traversable by another user,
// since PostgreSQL refuses to run as root and runs as the postgres user.
func openDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("open %s to the postgres user: %v", d, err)
		}
	}
	return dir
}

func itoa(n int) string { return strconv.Itoa(n) }
