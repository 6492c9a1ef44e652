package readiness

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/standin"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/testenv"
)

// The database check keeps one connection: it must fail while the server is down and
// connect again, by itself, once it is back.
func TestPostgresCheckReconnectsAfterARestart(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgres(t)
	// pgxpool settings belong to the application's pool; the check must not send them.
	check, err := NewPostgres(pg.URL + "&pool_max_conns=4")
	require.NoError(t, err)
	t.Cleanup(check.Close)
	run := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return check.Check(ctx)
	}

	require.NoError(t, run())
	pg.Stop(t)
	err = run()
	require.Error(t, err, "the server is down")
	assert.Contains(t, err.Error(), "postgres")
	pg.Start(t)
	require.NoError(t, run(), "reconnected after the restart")
}

func TestPostgresRejectsABadURL(t *testing.T) {
	t.Parallel()
	_, err := NewPostgres("postgres://host:notaport/db")
	require.ErrorContains(t, err, "parse DATABASE_URL")
}

// The LLM check against a real stand-in: the key must be accepted and DEFAULT_MODEL listed.
func TestLLMCheck(t *testing.T) {
	t.Parallel()
	many := make([]string, 15)
	for i := range many {
		many[i] = fmt.Sprintf("m%02d", i)
	}
	for _, tc := range []struct {
		name    string
		standin []standin.Option
		behave  standin.Behavior
		key     string
		model   string
		want    []string // substrings of the error; none = the check passes
		notWant []string
	}{
		{name: "model listed", standin: []standin.Option{standin.WithModels("a", "b")}, model: "b"},
		{name: "no model asked for", standin: []standin.Option{standin.WithModels("a")}},
		{name: "default models list deepseek-chat", model: "deepseek-chat"},
		{
			name: "model missing", standin: []standin.Option{standin.WithModels("a", "b")}, model: "gpt-9",
			want: []string{`model "gpt-9" is not listed by http://`, "/v1/models", "(it lists: a, b)"},
		},
		{
			name: "model missing from a long list", standin: []standin.Option{standin.WithModels(many...)}, model: "zzz",
			want:    []string{`model "zzz" is not listed`, "it lists: m00, m01, m02, m03, m04, m05, m06, m07, m08, m09 and 5 more"},
			notWant: []string{"m10"},
		},
		{
			name: "key accepted", standin: []standin.Option{standin.WithAPIKey("right"), standin.WithModels("a")},
			key: "right", model: "a",
		},
		{
			name: "wrong key", standin: []standin.Option{standin.WithAPIKey("right")}, key: "wrong", model: "deepseek-chat",
			want: []string{"status 401: the API key was refused"}, notWant: []string{"wrong", "right"},
		},
		{
			name: "no key", standin: []standin.Option{standin.WithAPIKey("right")}, model: "deepseek-chat",
			want: []string{"status 401"},
		},
		{
			name: "stand-in failing", behave: standin.Behavior{Fail: true}, model: "deepseek-chat",
			want: []string{"status 500"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := standin.New(tc.standin...)
			s.Set(standin.DefaultScope, tc.behave)
			ts := httptest.NewServer(s)
			t.Cleanup(ts.Close)
			err := runLLM(t, LLM{BaseURL: ts.URL + "/v1", APIKey: tc.key, Model: tc.model})
			if len(tc.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, w := range tc.notWant {
				assert.NotContains(t, err.Error(), w)
			}
		})
	}
}

// An endpoint that answers 200 with something other than a model list is not an LLM API.
func TestLLMCheckWantsAModelList(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", "ok", "decode the model list"},
		{"JSON without data", `{"status":"ok"}`, "not an OpenAI model list"},
		{"empty list", `{"object":"list","data":[]}`, `model "a" is not listed by`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(ts.Close)
			err := runLLM(t, LLM{BaseURL: ts.URL, Model: "a"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// The base URL's password, if any, is not repeated in an error /ready serves.
func TestLLMCheckRedactsTheURL(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(standin.New(standin.WithModels("a")))
	t.Cleanup(ts.Close)
	base := strings.Replace(ts.URL, "http://", "http://user:s3cret@", 1) + "/v1"
	err := runLLM(t, LLM{BaseURL: base, Model: "b"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `model "b" is not listed`)
	assert.NotContains(t, err.Error(), "s3cret")
}

func runLLM(t *testing.T, l LLM) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return l.Check(ctx)
}
