package readiness

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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

// Postgres runs SELECT 1 on one connection of its own, opened on the first check and
// opened again after any failure, so a restarted server is reconnected to without
// restarting the pod. It speaks the wire protocol through pgconn: a readiness check
// needs no pool and no type mapping (pgxpool and pgx added 3 MB to the image).
type Postgres struct {
	cfg  *pgconn.Config
	mu   sync.Mutex // one check at a time on the connection
	conn *pgconn.PgConn
}

// NewPostgres parses the URL; no connection is made until the first check.
func NewPostgres(databaseURL string) (*Postgres, error) {
	cfg, err := pgconn.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	// The URL is the application's: pgxpool settings in it are not for the server.
	for k := range cfg.RuntimeParams {
		if strings.HasPrefix(k, "pool_") {
			delete(cfg.RuntimeParams, k)
		}
	}
	return &Postgres{cfg: cfg}, nil
}

// Name implements Check.
func (*Postgres) Name() string { return "database" }

// Check implements Check.
func (p *Postgres) Check(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		conn, err := pgconn.ConnectConfig(ctx, p.cfg)
		if err != nil {
			return fmt.Errorf("postgres connect: %w", err)
		}
		p.conn = conn
	}
	if _, err := p.conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		p.closeLocked() // the next check starts from a fresh connection
		return fmt.Errorf("postgres select 1: %w", err)
	}
	return nil
}

// Close closes the connection.
func (p *Postgres) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closeLocked()
}

func (p *Postgres) closeLocked() {
	if p.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = p.conn.Close(ctx)
		p.conn = nil
	}
}

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

// LLM lists models at an OpenAI-compatible base URL (GET {base}/models) with the API key, and
// when Model is set requires it among the listed ids: an API that answers but does not serve
// the configured model would fail every chat request.
type LLM struct {
	BaseURL string
	APIKey  string
	// Model is the model the server sends when a request names none (DEFAULT_MODEL); empty
	// = any model list will do.
	Model  string
	Client *http.Client
}

const (
	// maxModelList bounds how much of a model list is read; providers with hundreds of models
	// and long descriptions answer a few hundred KiB.
	maxModelList = 8 << 20
	// maxListedModels bounds how many ids an error names.
	maxListedModels = 10
)

// Name implements Check.
func (LLM) Name() string { return "llm" }

// Check implements Check.
func (l LLM) Check(ctx context.Context) error {
	endpoint := l.BaseURL + "/models"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return fmt.Errorf("llm: build the models request: %w", err)
	}
	shown := req.URL.Redacted() // /ready is served to anyone: no password from the URL
	if l.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+l.APIKey)
	}
	client := l.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("llm: GET %s: %w", shown, err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxModelList)
	// Drain what is left so the connection is reused.
	defer func() { _, _ = io.Copy(io.Discard, body) }()
	if resp.StatusCode/100 != 2 {
		// The provider's message is not repeated: some echo part of the key.
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return fmt.Errorf("llm: GET %s: status 401: the API key was refused", shown)
		case http.StatusForbidden:
			return fmt.Errorf("llm: GET %s: status 403: the API key may not list models", shown)
		}
		return fmt.Errorf("llm: GET %s: status %d", shown, resp.StatusCode)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(body).Decode(&list); err != nil {
		return fmt.Errorf("llm: GET %s: decode the model list: %w", shown, err)
	}
	if list.Object != "list" && list.Data == nil {
		return fmt.Errorf("llm: GET %s: not an OpenAI model list (no \"data\")", shown)
	}
	if l.Model == "" {
		return nil
	}
	ids := make([]string, 0, len(list.Data))
	for _, m := range list.Data {
		if m.ID == l.Model {
			return nil
		}
		ids = append(ids, m.ID)
	}
	return fmt.Errorf("llm: model %q is not listed by %s (%s)", l.Model, shown, listed(ids))
}

// listed names the first maxListedModels ids.
func listed(ids []string) string {
	switch {
	case len(ids) == 0:
		return "it lists none"
	case len(ids) <= maxListedModels:
		return "it lists: " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("it lists: %s and %d more", strings.Join(ids[:maxListedModels], ", "), len(ids)-maxListedModels)
}
