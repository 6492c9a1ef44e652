package testenv

import (
	"context"
	"testing"
)

func TestPostgresAndRedisRestart(t *testing.T) {
	t.Parallel()
	pg := StartPostgres(t)
	rd := StartRedis(t)
	ctx := context.Background()
	if err := pg.ping(ctx); err != nil {
		t.Fatalf("postgres after start: %v", err)
	}
	if err := rd.ping(ctx); err != nil {
		t.Fatalf("redis after start: %v", err)
	}
	pg.Stop(t)
	rd.Stop(t)
	if err := pg.ping(ctx); err == nil {
		t.Fatal("postgres still answers after Stop")
	}
	if err := rd.ping(ctx); err == nil {
		t.Fatal("redis still answers after Stop")
	}
	pg.Start(t)
	rd.Start(t)
	if err := pg.ping(ctx); err != nil {
		t.Fatalf("postgres after restart: %v", err)
	}
	if err := rd.ping(ctx); err != nil {
		t.Fatalf("redis after restart: %v", err)
	}
}
