// Package buildinfo holds the version stamped into a binary at link time.
package buildinfo

// Version is set with -ldflags "-X github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo.Version=v1.0.0".
// "dev" marks a binary built without the stamp (go run, go test).
var Version = "dev"

// VersionLDFlag returns the -X linker flag that stamps version into a binary.
func VersionLDFlag(version string) string {
	return "-X github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo.Version=" + version
}
