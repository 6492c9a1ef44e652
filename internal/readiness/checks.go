package readiness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// CheckFunc adapts a function to Check.
type CheckFunc struct {
	CheckName string
	Fn        func(ctx context.Context) error
}

// Name implements Check.
func (f CheckFunc) Name() string { return f.CheckName }

// Check implements Check.
func (f CheckFunc) Check(ctx context.Context) error { return f.Fn(ctx) }

// Postgres runs SELECT 1 through a small pool, so a restarted server is reconnected to
// without restarting the pod.
type Postgres struct{ Pool *pgxpool.Pool }

// NewPostgres builds a lazy pool (no connection is made until the first check).
func NewPostgres(databaseURL string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.MaxConns = 2 // readiness only; the app's own pool would be separate
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("create postgres pool: %w", err)
	}
	return &Postgres{Pool: pool}, nil
}

// Name implements Check.
func (*Postgres) Name() string { return "database" }

// Check implements Check.
func (p *Postgres) Check(ctx context.Context) error {
	var one int
	if err := p.Pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres select 1: %w", err)
	}
	return nil
}

// Close releases the pool.
func (p *Postgres) Close() { p.Pool.Close() }

// Redis sends PING.
type Redis struct{ Client *redis.Client }

// NewRedis builds a client that does not retry: a readiness check must report, not hide, failure.
func NewRedis(redisURL string) (*Redis, error) {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	opt.MaxRetries = -1
	opt.PoolSize = 2
	return &Redis{Client: redis.NewClient(opt)}, nil
}

// Name implements Check.
func (*Redis) Name() string { return "redis" }

// Check implements Check.
func (r *Redis) Check(ctx context.Context) error {
	if err := r.Client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close releases the client.
func (r *Redis) Close() error { return r.Client.Close() }

// TCP checks that host:port accepts a connection. Milvus's gRPC port (19530) is what the chart
// configures; its HTTP /healthz lives on another port, so reachability is what can be checked.
type TCP struct {
	CheckName string
	Addr      string
}

// Name implements Check.
func (t TCP) Name() string { return t.CheckName }

// Check implements Check.
func (t TCP) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return fmt.Errorf("dial %s: %w", t.Addr, err)
	}
	return conn.Close()
}

// LLM lists models at an OpenAI-compatible base URL (GET {base}/models) with the API key.
type LLM struct {
	BaseURL string
	APIKey  string
	Client  *http.Client
}

// Name implements Check.
func (LLM) Name() string { return "llm" }

// Check implements Check.
func (l LLM) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.BaseURL+"/models", nil)
	if err != nil {
		return fmt.Errorf("build llm models request: %w", err)
	}
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("llm list models: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // drain so the connection is reused
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("llm list models: status %d", resp.StatusCode)
	}
	return nil
}
