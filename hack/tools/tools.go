//go:build tools

// Package tools pins chart-testing for hack/tools.sh.
package tools

import _ "github.com/helm/chart-testing/v3/ct"
