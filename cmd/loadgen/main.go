// Command loadgen runs a bounded HTTP load (internal/loadgen) against one URL and prints the
// throughput, failures, latency percentiles and counts per X-App-Version / X-App-Color.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/loadgen"
)

func main() {
	var o loadgen.Options
	var headers string
	var asJSON, quiet bool
	flag.StringVar(&o.URL, "url", "http://127.0.0.1:8000/health", "target URL")
	flag.Float64Var(&o.Rate, "rate", 0, "requests per second (0 = as fast as -concurrency allows)")
	flag.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to run")
	flag.IntVar(&o.MaxRequests, "max-requests", 200000, "hard cap on requests sent")
	flag.IntVar(&o.Concurrency, "concurrency", 32, "maximum requests in flight")
	flag.BoolVar(&o.KeepAlive, "keepalive", true, "reuse connections (false = a fresh connection per request)")
	flag.DurationVar(&o.Timeout, "timeout", 5*time.Second, "per-request timeout")
	flag.DurationVar(&o.Window, "window", time.Second, "width of the per-window statistics and progress interval")
	flag.StringVar(&headers, "headers", strings.Join(loadgen.DefaultHeaders, ","), "response headers to count, comma-separated")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	flag.BoolVar(&quiet, "quiet", false, "no progress lines")
	flag.Parse()
	o.Headers = strings.Split(headers, ",")
	if !quiet {
		o.Progress = func(elapsed time.Duration, done int) {
			fmt.Fprintf(os.Stderr, "  [%5.1fs] %d requests completed\n", elapsed.Seconds(), done)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintln(os.Stderr, "error: encode result:", err)
			os.Exit(1)
		}
		return
	}
	res.Summary(os.Stdout)
}
