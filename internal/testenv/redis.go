package testenv

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server owned by one test, without persistence.
type Redis struct {
	URL  string
	Port int
	proc *process
}

// StartRedis starts redis-server on a free loopback port.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	bin := lookBinary(t, "redis-server", "/usr/bin")
	dir := t.TempDir()
	port := FreePort(t)
	r := &Redis{
		URL:  fmt.Sprintf("redis://127.0.0.1:%d/0", port),
		Port: port,
		proc: &process{
			t: t, name: "redis-server", port: port, logPath: filepath.Join(dir, "redis.log"),
			argv: []string{bin, "--port", itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"},
		},
	}
	t.Cleanup(func() { r.proc.stop(syscall.SIGTERM) })
	r.Start(t)
	return r
}

// Start starts the server (again) and waits until it answers PING.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.proc.start()
	r.proc.waitReady(15*time.Second, r.ping)
}

// Stop shuts the server down.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.proc.stop(syscall.SIGTERM)
}

func (r *Redis) ping(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port), MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
