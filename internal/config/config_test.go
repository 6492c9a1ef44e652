package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	got, err := Load(env())
	if err != nil {
		t.Fatalf("Load with an empty environment: %v", err)
	}
	if diff := cmp.Diff(Defaults(), got); diff != "" {
		t.Errorf("empty environment differs from Defaults() (-want +got):\n%s", diff)
	}
	if got.Port != 8000 || got.MaxConnectionAge != 30*time.Second || got.ShutdownTimeout != 45*time.Second {
		t.Errorf("documented defaults changed: %+v", got)
	}
}

func TestSeedConfigMapAndSecret(t *testing.T) {
	t.Parallel()
	got, err := Load(env(
		"LOG_LEVEL", "INFO", "CORS_ORIGINS", "https://app.your-domain.com", "DEFAULT_MODEL", "deepseek-chat",
		"MAX_TOKENS", "4096", "VECTOR_DB_HOST", "milvus-service", "VECTOR_DB_PORT", "19530", "CHUNK_SIZE", "512",
		"LANGFUSE_HOST", "https://langfuse.example.com", "PROMETHEUS_ENABLED", "true",
		"DATABASE_URL", "postgresql://user:pass@postgres:5432/ai_assistant", "REDIS_URL", "redis://redis:6379/0",
		"OPENAI_API_KEY", "sk-openai", "DEEPSEEK_API_KEY", "sk-deepseek", "APP_COLOR", "green",
		"LLM_BASE_URL", "http://llm-standin/scope/green/v1/", "HTTP_MAX_CONNECTION_REQUESTS", "100",
	))
	if err != nil {
		t.Fatalf("Load of the seed's values: %v", err)
	}
	want := Defaults()
	want.CORSOrigins = []string{"https://app.your-domain.com"}
	want.VectorDBHost = "milvus-service"
	want.LangfuseHost = "https://langfuse.example.com"
	want.DatabaseURL = "postgresql://user:pass@postgres:5432/ai_assistant"
	want.RedisURL = "redis://redis:6379/0"
	want.LLMAPIKey = "sk-deepseek" // DEEPSEEK_API_KEY wins over OPENAI_API_KEY
	want.Color = "green"
	want.LLMBaseURL = "http://llm-standin/scope/green/v1"
	want.MaxConnectionRequests = 100
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLLMKeyPrecedence(t *testing.T) {
	t.Parallel()
	got, err := Load(env("LLM_API_KEY", "k-llm", "DEEPSEEK_API_KEY", "k-ds", "OPENAI_API_KEY", "k-oa"))
	if err != nil || got.LLMAPIKey != "k-llm" {
		t.Errorf("LLM_API_KEY should win: got %q, err %v", got.LLMAPIKey, err)
	}
	got, err = Load(env("OPENAI_API_KEY", "k-oa"))
	if err != nil || got.LLMAPIKey != "k-oa" {
		t.Errorf("OPENAI_API_KEY is the last fallback: got %q, err %v", got.LLMAPIKey, err)
	}
}

func TestLogLevels(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "WARNING": slog.LevelWarn, "ERROR": slog.LevelError} {
		got, err := Load(env("LOG_LEVEL", in))
		if err != nil || got.LogLevel != want {
			t.Errorf("LOG_LEVEL=%s: got %v, err %v; want %v", in, got.LogLevel, err, want)
		}
	}
}

func TestBadValuesNameTheVariable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, value string
	}{
		{"unparsable max tokens", "MAX_TOKENS", "lots"},
		{"zero max tokens", "MAX_TOKENS", "0"},
		{"port out of range", "PORT", "70000"},
		{"vector db port", "VECTOR_DB_PORT", "x"},
		{"chunk size", "CHUNK_SIZE", "-1"},
		{"log level", "LOG_LEVEL", "LOUD"},
		{"colour", "APP_COLOR", "red"},
		{"cors origin with path", "CORS_ORIGINS", "https://a.example/path"},
		{"langfuse not a URL", "LANGFUSE_HOST", "langfuse.example.com"},
		{"llm base not http", "LLM_BASE_URL", "ftp://llm/v1"},
		{"prometheus flag", "PROMETHEUS_ENABLED", "maybe"},
		{"database url", "DATABASE_URL", "postgres://u:hunter2@[::1"},
		{"redis url", "REDIS_URL", "http://u:hunter2@redis:6379"},
		{"connection age", "HTTP_MAX_CONNECTION_AGE", "30"},
		{"negative connection requests", "HTTP_MAX_CONNECTION_REQUESTS", "-1"},
		{"ready ttl", "READY_CACHE_TTL", "soon"},
		{"zero check timeout", "READY_CHECK_TIMEOUT", "0s"},
		{"shutdown timeout", "SHUTDOWN_TIMEOUT", "forever"},
		{"delay not shorter than timeout", "SHUTDOWN_DELAY", "45s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(env(tc.key, tc.value))
			if err == nil {
				t.Fatalf("%s=%q accepted, want an error", tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

func TestAllBadValuesReportedAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(env("MAX_TOKENS", "x", "PORT", "y"))
	if err == nil || !strings.Contains(err.Error(), "MAX_TOKENS") || !strings.Contains(err.Error(), "PORT") {
		t.Fatalf("want both MAX_TOKENS and PORT named, got %v", err)
	}
}
