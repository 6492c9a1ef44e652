package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestPort(t *testing.T) {
	t.Setenv("PORT", "")
	if p, err := Port(8080); err != nil || p != 8080 {
		t.Errorf("unset: %d, %v; want 8080", p, err)
	}
	t.Setenv("PORT", "9000")
	if p, err := Port(8080); err != nil || p != 9000 {
		t.Errorf("9000: %d, %v", p, err)
	}
	for _, bad := range []string{"http", "0", "65536"} {
		t.Setenv("PORT", bad)
		if _, err := Port(8080); err == nil {
			t.Errorf("PORT=%s accepted", bad)
		}
	}
}

// Serve answers until its context ends, then returns without error once shut down.
func TestServeStopsCleanly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(ctx, l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }), time.Second)
	}()
	resp, err := http.Get("http://" + l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("body %q", body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}
