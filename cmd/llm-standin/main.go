// Command llm-standin serves the OpenAI-compatible LLM stand-in (see internal/standin) that
// tests and the demo use in place of a real provider. PORT overrides the default 8080;
// STANDIN_MODELS (comma-separated, default "deepseek-chat,gpt-4o-mini") is what GET /v1/models
// lists; STANDIN_API_KEY, when set, is the bearer key the /v1 API requires (401 otherwise).
package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/healthcheck"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/serve"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/standin"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	port, err := serve.Port(8080)
	if err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		if err := healthcheck.Check(context.Background(), "http://127.0.0.1:"+strconv.Itoa(port)+"/healthz", 2*time.Second); err != nil {
			log.Error("unhealthy", "err", err.Error())
			os.Exit(1)
		}
		return
	}

	models := standin.DefaultModels
	if v := os.Getenv("STANDIN_MODELS"); strings.TrimSpace(v) != "" {
		models = splitModels(v)
		if len(models) == 0 {
			log.Error("invalid STANDIN_MODELS: no model named", "value", v)
			os.Exit(1)
		}
	}
	apiKey := strings.TrimSpace(os.Getenv("STANDIN_API_KEY"))

	handler := standin.New(standin.WithModels(models...), standin.WithAPIKey(apiKey))
	log.Info("llm stand-in serving", "port", port, "version", buildinfo.Version,
		"models", strings.Join(models, ","), "api_key_required", apiKey != "")
	if err := serve.Run(handler, port, 10*time.Second); err != nil {
		log.Error("serve", "err", err.Error())
		os.Exit(1)
	}
}

// splitModels reads a comma-separated list, ignoring blanks around and between names.
func splitModels(v string) []string {
	var out []string
	for m := range strings.SplitSeq(v, ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}
