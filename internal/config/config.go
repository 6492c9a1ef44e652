// Package config reads the ai-assistant server's settings from the environment the chart's
// ConfigMap and Secret provide. Every bad value is reported with the variable that holds it,
// so a pod that cannot start says why in its first log line.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"
)

// Config is the server's whole configuration. Empty dependency settings mean "not configured":
// the readiness check for that dependency is skipped and reported as such.
type Config struct {
	Port     int
	LogLevel slog.Level
	// Color names the Deployment (blue or green) this process runs in; empty outside blue-green.
	Color string

	CORSOrigins  []string
	DefaultModel string
	MaxTokens    int
	ChunkSize    int

	VectorDBHost string
	VectorDBPort int

	LangfuseHost      string
	LangfusePublicKey string
	LangfuseSecretKey string

	PrometheusEnabled bool

	DatabaseURL string
	RedisURL    string

	// LLMBaseURL is an OpenAI-compatible base such as http://llm-standin/v1.
	LLMBaseURL string
	LLMAPIKey  string

	// MaxConnectionAge and MaxConnectionRequests bound a keep-alive connection's life so that
	// clients reconnect and follow a Service selector switch; zero disables each bound.
	MaxConnectionAge      time.Duration
	MaxConnectionRequests int

	ReadyCacheTTL     time.Duration
	ReadyCheckTimeout time.Duration
	// ShutdownDelay keeps serving (with /ready at 503) after SIGTERM before the listener closes;
	// zero by default because the chart's preStop sleep already covers endpoint removal.
	ShutdownDelay   time.Duration
	ShutdownTimeout time.Duration
}

// Defaults are the values used when a variable is unset or empty.
func Defaults() Config {
	return Config{
		Port:                  8000,
		LogLevel:              slog.LevelInfo,
		DefaultModel:          "deepseek-chat",
		MaxTokens:             4096,
		ChunkSize:             512,
		VectorDBPort:          19530,
		PrometheusEnabled:     true,
		MaxConnectionAge:      30 * time.Second,
		ReadyCacheTTL:         time.Second,
		ReadyCheckTimeout:     2 * time.Second,
		ShutdownTimeout:       45 * time.Second,
		MaxConnectionRequests: 0,
	}
}

// Load reads the configuration through getenv (os.Getenv in main, a map in tests) and returns
// every invalid variable at once, each error naming its variable.
func Load(getenv func(string) string) (Config, error) {
	c := Defaults()
	p := parser{getenv: getenv}

	p.int("PORT", &c.Port, 1, 65535)
	p.level("LOG_LEVEL", &c.LogLevel)
	p.oneOf("APP_COLOR", &c.Color, "blue", "green")
	p.origins("CORS_ORIGINS", &c.CORSOrigins)
	p.str("DEFAULT_MODEL", &c.DefaultModel)
	p.int("MAX_TOKENS", &c.MaxTokens, 1, 1<<20)
	p.int("CHUNK_SIZE", &c.ChunkSize, 1, 1<<20)
	p.str("VECTOR_DB_HOST", &c.VectorDBHost)
	p.int("VECTOR_DB_PORT", &c.VectorDBPort, 1, 65535)
	p.httpURL("LANGFUSE_HOST", &c.LangfuseHost)
	p.str("LANGFUSE_PUBLIC_KEY", &c.LangfusePublicKey)
	p.str("LANGFUSE_SECRET_KEY", &c.LangfuseSecretKey)
	p.bool("PROMETHEUS_ENABLED", &c.PrometheusEnabled)
	p.databaseURL("DATABASE_URL", &c.DatabaseURL)
	p.redisURL("REDIS_URL", &c.RedisURL)
	p.httpURL("LLM_BASE_URL", &c.LLMBaseURL)
	c.LLMBaseURL = strings.TrimRight(c.LLMBaseURL, "/")
	// The LLM key falls back to the provider keys the seed's Secret already carries.
	for _, k := range []string{"LLM_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_API_KEY"} {
		if v := strings.TrimSpace(getenv(k)); v != "" {
			c.LLMAPIKey = v
			break
		}
	}
	p.duration("HTTP_MAX_CONNECTION_AGE", &c.MaxConnectionAge, 0)
	p.int("HTTP_MAX_CONNECTION_REQUESTS", &c.MaxConnectionRequests, 0, 1<<30)
	p.duration("READY_CACHE_TTL", &c.ReadyCacheTTL, 0)
	p.duration("READY_CHECK_TIMEOUT", &c.ReadyCheckTimeout, time.Millisecond)
	p.duration("SHUTDOWN_DELAY", &c.ShutdownDelay, 0)
	p.duration("SHUTDOWN_TIMEOUT", &c.ShutdownTimeout, time.Millisecond)
	if c.ShutdownDelay >= c.ShutdownTimeout {
		p.fail("SHUTDOWN_DELAY", getenv("SHUTDOWN_DELAY"), "must be shorter than SHUTDOWN_TIMEOUT")
	}
	if len(p.errs) > 0 {
		return Config{}, errors.Join(p.errs...)
	}
	return c, nil
}

// parser accumulates one error per bad variable.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

// fail records an error naming the variable; secrets are never echoed back.
func (p *parser) fail(name, value, reason string) {
	if isSecret(name) {
		p.errs = append(p.errs, fmt.Errorf("invalid %s: %s", name, reason))
		return
	}
	p.errs = append(p.errs, fmt.Errorf("invalid %s=%q: %s", name, value, reason))
}

func isSecret(name string) bool {
	return name == "DATABASE_URL" || name == "REDIS_URL" || strings.HasSuffix(name, "_KEY")
}

func (p *parser) str(name string, dst *string) {
	if v, ok := p.get(name); ok {
		*dst = v
	}
}

func (p *parser) int(name string, dst *int, lo, hi int) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, v, "not an integer")
		return
	}
	if n < lo || n > hi {
		p.fail(name, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		return
	}
	*dst = n
}

func (p *parser) bool(name string, dst *bool) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, v, "not a boolean (true or false)")
		return
	}
	*dst = b
}

func (p *parser) duration(name string, dst *time.Duration, min time.Duration) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, v, "not a Go duration such as 30s or 1m")
		return
	}
	if d < min {
		p.fail(name, v, fmt.Sprintf("must be at least %s", min))
		return
	}
	*dst = d
}

func (p *parser) level(name string, dst *slog.Level) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	if strings.EqualFold(v, "WARNING") { // Python's spelling, as the seed's FastAPI app used
		v = "WARN"
	}
	if err := dst.UnmarshalText([]byte(v)); err != nil {
		p.fail(name, v, "not one of DEBUG, INFO, WARN, ERROR")
	}
}

func (p *parser) oneOf(name string, dst *string, allowed ...string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if v == a {
			*dst = v
			return
		}
	}
	p.fail(name, v, "must be one of "+strings.Join(allowed, ", "))
}

func (p *parser) httpURL(name string, dst *string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, v, "not an http(s) URL with a host")
		return
	}
	*dst = v
}

func (p *parser) origins(name string, dst *[]string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	var out []string
	for _, o := range strings.Split(v, ",") {
		o = strings.TrimRight(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
				p.fail(name, v, fmt.Sprintf("origin %q is neither * nor scheme://host[:port]", o))
				return
			}
		}
		out = append(out, o)
	}
	*dst = out
}

func (p *parser) databaseURL(name string, dst *string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	if _, err := pgconn.ParseConfig(v); err != nil {
		p.fail(name, v, "not a PostgreSQL connection string")
		return
	}
	*dst = v
}

func (p *parser) redisURL(name string, dst *string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	if _, err := redis.ParseURL(v); err != nil {
		p.fail(name, v, "not a redis:// or rediss:// URL")
		return
	}
	*dst = v
}
