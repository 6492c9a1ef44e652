package cli

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	helmcli "helm.sh/helm/v3/pkg/cli"
)

// chartName is the chart whose releases the command operates on, and so completes.
const chartName = "ai-assistant"

// helmSettings are Helm's own settings (HELM_NAMESPACE, HELM_KUBECONTEXT and KUBECONFIG from
// the environment, as `helm` sets them for a plugin) with the command's flags over them.
func helmSettings(g *Global) *helmcli.EnvSettings {
	settings := helmcli.New()
	if g.Kubeconfig != "" {
		settings.KubeConfig = g.Kubeconfig
	}
	if g.KubeContext != "" {
		settings.KubeContext = g.KubeContext
	}
	if g.Namespace != "" {
		settings.SetNamespace(g.Namespace)
	}
	return settings
}

// completeReleases completes RELEASE with the names of the namespace's releases of this
// chart, read from Helm's storage the way `helm list` reads it. Any error completes nothing:
// a shell completion has nowhere to report it.
func completeReleases(g *Global) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		settings := helmSettings(g)
		cfg := new(action.Configuration)
		if err := cfg.Init(settings.RESTClientGetter(), settings.Namespace(), os.Getenv("HELM_DRIVER"), func(string, ...any) {}); err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
		}
		list := action.NewList(cfg)
		list.All = true // a release mid-upgrade is still one to look at
		rels, err := list.Run()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError | cobra.ShellCompDirectiveNoFileComp
		}
		var names []cobra.Completion
		for _, r := range rels {
			if r.Chart != nil && r.Chart.Metadata != nil && r.Chart.Metadata.Name == chartName && strings.HasPrefix(r.Name, toComplete) {
				names = append(names, cobra.CompletionWithDesc(r.Name, r.Chart.Metadata.Version))
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

// registerCompletions adds release-name completion to every command that takes a RELEASE and
// value completion to the flags with a fixed set of values.
func registerCompletions(root *cobra.Command, g *Global) {
	for _, cmd := range root.Commands() {
		if strings.Contains(cmd.Use, "RELEASE") {
			cmd.ValidArgsFunction = completeReleases(g)
		}
	}
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]cobra.Completion{"text", "json"}, cobra.ShellCompDirectiveNoFileComp)) // the flag exists: cannot fail
}
