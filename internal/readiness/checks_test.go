package readiness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
