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
	*process
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
		process: &process{
			t: t, name: "redis-server", port: port, logPath: filepath.Join(dir, "redis.log"),
			argv: []string{bin, "--port", itoa(port), "--bind", "127.0.0.1", "--dir", dir,
				"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"},
			stopSignal:   syscall.SIGTERM,
			readyTimeout: 15 * time.Second,
		},
	}
	r.process.ping = r.ping // ready once it answers PING
	t.Cleanup(func() { r.Stop(t) })
	r.Start(t)
	return r
}

func (r *Redis) ping(ctx context.Context) error {
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port), MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}
