package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/buildinfo"
)

// VersionInfo is what `bluegreen version` prints.
type VersionInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func currentVersion() VersionInfo {
	return VersionInfo{
		Version:   buildinfo.Version,
		Commit:    buildinfo.Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

func versionCommand(g *Global, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform this binary was built with",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := checkOutput(g); err != nil {
				return &codeError{ExitBadInput, printErr(stderr, err)}
			}
			v := currentVersion()
			var err error
			if g.Output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				err = enc.Encode(v)
			} else {
				commit := v.Commit
				if commit == "" {
					commit = "unknown"
				}
				_, err = fmt.Fprintf(stdout, "bluegreen %s (commit %s, %s, %s)\n", v.Version, commit, v.GoVersion, v.Platform)
			}
			if err != nil {
				return &codeError{ExitError, printErr(stderr, err)}
			}
			return nil
		},
	}
}
