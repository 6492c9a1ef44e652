// Package serve runs the small HTTP commands (the LLM stand-in, the Git server) the way the
// cluster stops them: PORT read and checked, SIGTERM or an interrupt shuts the server down
// within a grace period. The API server has its own, longer drain (internal/server).
package serve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Port is $PORT, or def when unset; anything but a port number is an error naming it.
func Port(def int) (int, error) {
	v := os.Getenv("PORT")
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid PORT %q: not a port number", v)
	}
	return p, nil
}

// Run serves h on :port until SIGTERM or an interrupt, then shuts down within grace.
func Run(h http.Handler, port int, grace time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	return Serve(ctx, l, h, grace)
}

// Serve serves h on l until ctx ends, then shuts down within grace; a clean shutdown is no
// error.
func Serve(ctx context.Context, l net.Listener, h http.Handler, grace time.Duration) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), grace)
		defer cancel()
		_ = srv.Shutdown(sctx) // exiting either way
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}
