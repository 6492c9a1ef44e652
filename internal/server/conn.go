package server

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// connInfo follows one client connection: a Service selector switch only moves new
// connections, so a keep-alive client would stay on the old colour forever unless the server
// ends its connection after a maximum age or request count (like gRPC's MaxConnectionAge).
type connInfo struct {
	born     time.Time
	requests atomic.Int64
}

type connKey struct{}

func withConnInfo(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{born: time.Now()})
}

// limitConnection answers with "Connection: close" once the connection is too old or has
// served its share of requests; net/http then closes it after writing the response.
func (s *Server) limitConnection(next http.Handler) http.Handler {
	maxAge, maxReq := s.cfg.MaxConnectionAge, int64(s.cfg.MaxConnectionRequests)
	if maxAge <= 0 && maxReq <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ci, ok := r.Context().Value(connKey{}).(*connInfo); ok {
			n := ci.requests.Add(1)
			if (maxReq > 0 && n >= maxReq) || (maxAge > 0 && time.Since(ci.born) >= maxAge) {
				w.Header().Set("Connection", "close")
				s.Metrics.ConnsRecycled.Inc()
			}
		}
		next.ServeHTTP(w, r)
	})
}
