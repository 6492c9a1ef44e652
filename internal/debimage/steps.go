package debimage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Logf prints one progress line; nil means print nothing.
type Logf func(format string, args ...any)

// Steps runs named build steps: each prints when it starts and how long it took, and writes
// the output of the commands it runs to LogDir/<name>.log, which is kept when it fails.
type Steps struct {
	logf   Logf
	logDir string
	start  time.Time
}

// NewSteps returns a runner printing through logf and keeping logs in logDir.
func NewSteps(logf Logf, logDir string) *Steps {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Steps{logf: logf, logDir: logDir, start: time.Now()}
}

// Logf prints a progress line prefixed with the time since the runner was made.
func (s *Steps) Logf(format string, args ...any) {
	s.logf("[%5.1fs] %s", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// Step is one running step: Run executes commands with their output sent to its log.
type Step struct {
	Name    string
	LogPath string
	log     io.Writer
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Run runs fn as the step name, timing it and naming it in any error.
func (s *Steps) Run(ctx context.Context, name string, fn func(ctx context.Context, st *Step) error) error {
	if err := os.MkdirAll(s.logDir, 0o755); err != nil {
		return fmt.Errorf("create log directory %s: %w", s.logDir, err)
	}
	logPath := filepath.Join(s.logDir, unsafeName.ReplaceAllString(name, "_")+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("create step log %s: %w", logPath, err)
	}
	defer f.Close()
	s.Logf("step %s ...", name)
	began := time.Now()
	// A heartbeat, so a ten-minute Go build is not a silent one.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.Logf("step %s still running (%s, log %s)", name, time.Since(began).Round(time.Second), logPath)
			}
		}
	}()
	if err := fn(ctx, &Step{Name: name, LogPath: logPath, log: f}); err != nil {
		s.Logf("step %s FAILED after %s (log: %s)", name, time.Since(began).Round(100*time.Millisecond), logPath)
		return fmt.Errorf("step %s failed (log %s): %w", name, logPath, err)
	}
	s.Logf("step %s done in %s", name, time.Since(began).Round(100*time.Millisecond))
	return nil
}

// Cmd runs a command with its output appended to the step log; stdin may be nil.
func (st *Step) Cmd(ctx context.Context, stdin io.Reader, dir string, env []string, name string, args ...string) error {
	fmt.Fprintf(st.log, "+ %s %s\n", name, strings.Join(args, " "))
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Stdin = stdin
	c.Stdout = st.log
	c.Stderr = st.log
	if env != nil {
		c.Env = append(os.Environ(), env...)
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// Output runs a command and returns its standard output; standard error goes to the log.
func (st *Step) Output(ctx context.Context, name string, args ...string) (string, error) {
	fmt.Fprintf(st.log, "+ %s %s\n", name, strings.Join(args, " "))
	var out bytes.Buffer
	c := exec.CommandContext(ctx, name, args...)
	c.Stdout = io.MultiWriter(&out, st.log)
	c.Stderr = st.log
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// Log writes a line to the step log.
func (st *Step) Log(format string, args ...any) {
	fmt.Fprintf(st.log, format+"\n", args...)
}
