// Command bluegreen runs health-gated blue-green cutovers of the ai-assistant chart
// over the Helm SDK. All of it lives in internal/bluegreen; see README.md here.
package main

import (
	"context"
	"os"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, cli.ConnectCluster))
}
