// Package buildinfo holds the version and commit stamped into a binary at link time.
package buildinfo

const pkg = "github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"

// Version is set with -ldflags "-X github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo.Version=v1.0.0".
// "dev" marks a binary built without the stamp (go run, go test).
var Version = "dev"

// Commit is the source commit of a release build ("" when unstamped). It is stamped instead
// of read from Go's VCS build info because a release is built with -buildvcs=false: the same
// source then gives the same bytes whether or not it sits in a git checkout.
var Commit = ""

// VersionLDFlag returns the -X linker flag that stamps version into a binary.
func VersionLDFlag(version string) string {
	return "-X " + pkg + ".Version=" + version
}
