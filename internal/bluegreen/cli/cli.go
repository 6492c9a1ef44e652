// Package cli is the bluegreen command line: flags become operation fields, the
// result is printed as text or JSON, and errors become documented exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"k8s.io/client-go/kubernetes"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/probe"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/release"
)

// Exit codes, documented in the command's help.
const (
	ExitOK           = 0
	ExitError        = 1   // anything else: an API error, a timeout outside the gates
	ExitBadInput     = 2   // refused before anything changed
	ExitLocked       = 3   // another run holds the lock, or Helm has an operation pending
	ExitGateFailed   = 4   // a gate failed before the switch: traffic untouched
	ExitReverted     = 5   // verification failed after the switch: traffic switched back
	ExitRevertFailed = 6   // verification failed and switching back failed: act now
	ExitInterrupted  = 130 // Ctrl-C: the state left and how to continue were printed
)

const exitCodesHelp = `Exit codes:
  0    done, or nothing to do
  1    error (API error, timeout outside the gates)
  2    bad input: refused before anything changed
  3    locked: another run holds the release's lease, or Helm has an operation pending
  4    gate failed before the switch: traffic untouched
  5    verification failed after the switch: traffic switched back
  6    verification failed and switching back failed: act now
  130  interrupted: the state left and how to continue are printed`

// ExitCode maps an operation's error to its exit code.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	case errors.Is(err, bluegreen.ErrBadInput):
		return ExitBadInput
	case errors.Is(err, bluegreen.ErrLocked):
		return ExitLocked
	case errors.Is(err, bluegreen.ErrGateFailed):
		return ExitGateFailed
	case errors.Is(err, bluegreen.ErrReverted):
		return ExitReverted
	case errors.Is(err, bluegreen.ErrRevertFailed):
		return ExitRevertFailed
	}
	return ExitError
}

// Global are the flags every command shares.
type Global struct {
	Kubeconfig  string
	KubeContext string
	Namespace   string
	Output      string

	GitOps     bool
	ValuesFile string
	Chart      string
	Print      bool
	PushCmd    string
	// Git is the repository to clone for --gitops; GitBranch its branch.
	Git, GitBranch string
	// App is the Argo CD Application that syncs the values file, in AppNamespace.
	App, AppNamespace string

	// HistoryMax bounds the release's stored revisions (0: no bound).
	HistoryMax int
	// LeaseDuration is how long the lock's lease lives without a renewal (0: the default).
	LeaseDuration time.Duration
}

// Connect builds the operations' configuration for a release; tests replace it.
type Connect func(g *Global, releaseName string, stdout io.Writer) (*bluegreen.Configuration, error)

// Main runs the command with args and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, connect Connect) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	cmd := NewCommand(stdout, stderr, connect)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil {
		var ce *codeError
		if errors.As(err, &ce) {
			return ce.code
		}
		_, _ = fmt.Fprintf(stderr, "error: %v\n", err) // nowhere left to report a failed write
		return ExitBadInput                            // cobra's own errors: unknown flags, wrong arguments
	}
	return ExitOK
}

// codeError carries an exit code through cobra; its message was already printed.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }

// NewCommand returns the root command.
func NewCommand(stdout, stderr io.Writer, connect Connect) *cobra.Command {
	g := &Global{}
	root := &cobra.Command{
		Use:   "bluegreen",
		Short: "Health-gated blue-green cutovers of the ai-assistant chart, over Helm",
		Long: `bluegreen moves traffic between the chart's blue and green Deployments by upgrading
the Helm release with its own values plus the colour values (never a patch), behind
gates: the idle colour at the active colour's size, Ready, /ready and /health passing
on every pod and through the preview Service, then the switch, then verification
(endpoints, the old colour's request rate, a post-switch check) with an automatic
switch back on failure. The old colour is kept until a recorded deadline; finalize
scales it down. Every step derives where it is from the release and the cluster, so
a killed run converges when run again.

` + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&g.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&g.KubeContext, "kube-context", "", "kubeconfig context to use")
	f.StringVarP(&g.Namespace, "namespace", "n", "", "namespace of the release (default: the context's)")
	f.StringVarP(&g.Output, "output", "o", "text", "output format: text or json")
	f.BoolVar(&g.GitOps, "gitops", false, "do not upgrade the release: edit --values-file (or --print the change) and wait for the GitOps tool's sync")
	f.StringVar(&g.ValuesFile, "values-file", "", "with --gitops: the values file the GitOps tool renders the release from")
	f.StringVar(&g.Chart, "chart", "", "with --gitops: the chart directory, for the defaults the values file does not set (default: the Application's chart with --app, else the directory with a Chart.yaml nearest above the values file in its repository; with --git, a path in the repository)")
	f.BoolVar(&g.Print, "print", false, "with --gitops: print each values change instead of editing the file")
	f.IntVar(&g.HistoryMax, "history-max", release.DefaultHistoryMax, "revisions the release keeps (0: no limit); each cutover takes up to 5, so the default keeps at least 10 cutovers to roll back to")
	f.DurationVar(&g.LeaseDuration, "lease-duration", 30*time.Second, "the lock's lease, recorded on it and renewed every tenth of it: once this run is killed, the next run takes the lease over after it has gone this long without a renewal")
	f.StringVar(&g.Git, "git", "", "with --gitops: clone this Git repository, and commit and push each change to it with a message naming the step (--values-file and --chart are then paths in the repository)")
	f.StringVar(&g.GitBranch, "git-branch", "main", "with --git: the branch the GitOps tool syncs")
	f.StringVar(&g.App, "app", "", "with --gitops: the Argo CD Application that syncs the values file: refreshed after each push, and waited on until it reports the commit Synced (its chart and values file are the defaults of --chart and --values-file)")
	f.StringVar(&g.AppNamespace, "app-namespace", "argocd", "with --app: the Application's namespace")
	f.StringVar(&g.PushCmd, "push-cmd", "", "with --gitops: shell command run after each edit (e.g. git commit and push); $BLUEGREEN_MESSAGE holds the change's description")

	root.AddCommand(
		statusCommand(g, stdout, stderr, connect),
		deployCommand(g, stdout, stderr, connect),
		promoteCommand(g, stdout, stderr, connect),
		rollbackCommand(g, stdout, stderr, connect),
		abortCommand(g, stdout, stderr, connect),
		finalizeCommand(g, stdout, stderr, connect),
		versionCommand(g, stdout, stderr),
	)
	root.SetOut(stdout) // cobra's own commands (completion, help) print here too
	root.SetErr(stderr)
	registerCompletions(root, g)
	return root
}

// cutoverFlags binds the gates and scale-down flags of the traffic-moving commands.
func cutoverFlags(cmd *cobra.Command, c *bluegreen.Cutover) {
	f := cmd.Flags()
	f.DurationVar(&c.Gates.RolloutTimeout, "timeout", c.Gates.RolloutTimeout, "bound on the wait for the idle colour to be Ready and available")
	f.IntVar(&c.Gates.Passes, "gate-passes", c.Gates.Passes, "consecutive passes the health gate needs")
	f.DurationVar(&c.Gates.Interval, "gate-interval", c.Gates.Interval, "pause between gate rounds and post-switch checks")
	f.DurationVar(&c.Gates.GateTimeout, "gate-timeout", c.Gates.GateTimeout, "bound on the health gate")
	f.StringArrayVar(&c.Gates.Smoke, "smoke", nil, "extra path requested through the preview Service, must answer 2xx (repeatable)")
	f.DurationVar(&c.Gates.DrainTimeout, "drain-timeout", c.Gates.DrainTimeout, "bound on endpoints moving and the old colour's request rate falling")
	f.Float64Var(&c.Gates.MaxOldRate, "max-old-rate", c.Gates.MaxOldRate, "user requests per second on the old colour counted as drained (negative: skip the check)")
	f.DurationVar(&c.Gates.VerifyFor, "verify-for", c.Gates.VerifyFor, "how long the new colour must keep passing after the switch")
	f.IntVar(&c.Gates.FailureLimit, "failure-limit", c.Gates.FailureLimit, "failed post-switch rounds in a row tolerated before switching back")
	f.DurationVar(&c.ScaleDownDelay, "scale-down-delay", c.ScaleDownDelay, "how long the old colour stays at full size for a rollback")
	f.BoolVar(&c.Wait, "wait", false, "block until the scale-down deadline, with a countdown, then scale the old colour down")
	f.BoolVar(&c.ScaleDownOnFailure, "scale-down-on-failure", false, "scale the idle colour to zero when a gate fails (default: keep it for inspection)")
	f.DurationVar(&c.InFlightTimeout, "in-flight-timeout", c.InFlightTimeout, "with --wait: bound on the wait for the old colour's in-flight user requests (chat streams) to end before it is scaled down (0: do not wait)")
}

// runner connects, runs an operation and prints its result.
func runner(g *Global, stdout, stderr io.Writer, connect Connect, op func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := checkOutput(g); err != nil {
			return &codeError{ExitBadInput, printErr(stderr, err)}
		}
		cfg, err := connect(g, args[0], stdout)
		if err != nil {
			return &codeError{ExitCode(err), printErr(stderr, err)}
		}
		defer closeStore(cfg)
		cfg.Log = progress(stderr)
		if g.LeaseDuration > 0 {
			cfg.LeaseDuration = g.LeaseDuration
		}
		res, err := op(cmd.Context(), cfg)
		if res != nil {
			if perr := printResult(stdout, g.Output, res); perr != nil {
				return &codeError{ExitError, printErr(stderr, perr)}
			}
		}
		if err != nil {
			return &codeError{ExitCode(err), printErr(stderr, err)}
		}
		return nil
	}
}

func checkOutput(g *Global) error {
	if g.Output != "text" && g.Output != "json" {
		return fmt.Errorf("%w: --output must be text or json, not %q", bluegreen.ErrBadInput, g.Output)
	}
	if g.GitOps && g.ValuesFile == "" && g.App == "" {
		return fmt.Errorf("%w: --gitops needs --values-file (or --app, whose Application names it)", bluegreen.ErrBadInput)
	}
	if g.Git != "" && g.Print {
		return fmt.Errorf("%w: --git commits each change; --print only prints it: choose one", bluegreen.ErrBadInput)
	}
	return nil
}

func printErr(w io.Writer, err error) error {
	_, _ = fmt.Fprintf(w, "error: %v\n", err) // nowhere left to report a failed write
	return err
}

// progress prints each line with the time since the command started.
func progress(w io.Writer) func(string, ...any) {
	start := time.Now()
	var mu sync.Mutex // checks that run side by side log from their own goroutines
	return func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = fmt.Fprintf(w, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...)) // progress is best effort
	}
}

func statusCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	return &cobra.Command{
		Use:   "status RELEASE",
		Short: "Show the active and idle colour, images, replicas, autoscalers, Services, deadline and lock",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(g); err != nil {
				return &codeError{ExitBadInput, printErr(stderr, err)}
			}
			cfg, err := connect(g, args[0], stdout)
			if err != nil {
				return &codeError{ExitCode(err), printErr(stderr, err)}
			}
			defer closeStore(cfg)
			s, err := bluegreen.NewStatus(cfg).Run(cmd.Context())
			if err != nil {
				return &codeError{ExitCode(err), printErr(stderr, err)}
			}
			if err := printStatus(stdout, g.Output, s); err != nil {
				return &codeError{ExitError, printErr(stderr, err)}
			}
			return nil
		},
	}
}

func deployCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	var (
		tag, digest string
		env         []string
		sets, files []string
		check       bluegreen.ImageCheck
		cut         = bluegreen.NewDeploy(nil).Cutover
	)
	cmd := &cobra.Command{
		Use:   "deploy RELEASE [--tag TAG] [--set KEY=VALUE] [-f values.yaml]",
		Short: "Stage a new snapshot (image, config, secrets, resources, probes, ...) under the idle colour, gate it, switch to it, verify, and schedule the old colour's scale-down",
		Long: `deploy copies what the active colour runs to the idle colour, lays the change over it and
cuts over through the gates. --set and -f take the chart's shared key names (config.DEFAULT_MODEL,
secrets.DEEPSEEK_API_KEY, resources.limits.cpu, readinessProbe.periodSeconds, ...) and write them
under the idle colour only, so the serving colour never rolls. A key that does not shape the pods,
one the chart lacks, or a value its schema rejects exits 2 before anything changes.`,
		Args: cobra.ExactArgs(1),
		RunE: runner(g, stdout, stderr, connect, func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error) {
			d := bluegreen.NewDeploy(cfg)
			d.Cutover, d.Tag, d.Digest, d.ImageCheck = cut, tag, digest, check
			vals, err := (&values.Options{ValueFiles: files, Values: sets}).MergeValues(getter.Providers{})
			if err != nil {
				return nil, fmt.Errorf("%w: read --set/-f: %w", bluegreen.ErrBadInput, err)
			}
			d.Values = vals
			if len(env) > 0 {
				vars, err := parseEnv(env)
				if err != nil {
					return nil, err
				}
				d.Env = vars
			}
			return d.Run(ctx)
		}),
	}
	cmd.Flags().StringVar(&tag, "tag", "", "image tag for the idle colour")
	cmd.Flags().StringVar(&digest, "digest", "", "image digest (sha256:...) for the idle colour; wins over the tag")
	cmd.Flags().StringArrayVar(&env, "env", nil, "NAME=VALUE extra env for the idle colour only (repeatable; replaces its extra env)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "KEY=VALUE with the chart's shared key name, written under the idle colour (repeatable, Helm's --set syntax)")
	cmd.Flags().StringArrayVarP(&files, "values", "f", nil, "a values file with the chart's shared key names, written under the idle colour (repeatable)")
	imageCheckFlags(cmd, &check)
	cutoverFlags(cmd, &cut)
	return cmd
}

// imageCheckFlags binds how deploy and rollback look for their image on the nodes.
func imageCheckFlags(cmd *cobra.Command, ic *bluegreen.ImageCheck) {
	cmd.Flags().BoolVar(&ic.SkipImageCheck, "skip-image-check", false, "do not look for the image on the nodes")
	cmd.Flags().BoolVar(&ic.RequireImageOnNode, "require-image-on-node", false, "refuse an image no node holds (clusters that cannot pull: kind with loaded images, air-gapped nodes)")
}

func parseEnv(env []string) ([]map[string]any, error) {
	var out []map[string]any
	for _, e := range env {
		name, value, ok := strings.Cut(e, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: --env %q is not NAME=VALUE", bluegreen.ErrBadInput, e)
		}
		out = append(out, map[string]any{"name": name, "value": value})
	}
	return out, nil
}

func promoteCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	cut := bluegreen.NewPromote(nil).Cutover
	cmd := &cobra.Command{
		Use:   "promote RELEASE",
		Short: "Switch to the already deployed idle colour through the same gates (or finish verifying an interrupted switch)",
		Args:  cobra.ExactArgs(1),
		RunE: runner(g, stdout, stderr, connect, func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error) {
			p := bluegreen.NewPromote(cfg)
			p.Cutover = cut
			return p.Run(ctx)
		}),
	}
	cutoverFlags(cmd, &cut)
	return cmd
}

func rollbackCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	cut := bluegreen.NewRollback(nil).Cutover
	var check bluegreen.ImageCheck
	cmd := &cobra.Command{
		Use:   "rollback RELEASE",
		Short: "Go back to the previous colour: scale it up if it was scaled down, gate it, switch",
		Args:  cobra.ExactArgs(1),
		RunE: runner(g, stdout, stderr, connect, func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error) {
			r := bluegreen.NewRollback(cfg)
			r.Cutover, r.ImageCheck = cut, check
			return r.Run(ctx)
		}),
	}
	imageCheckFlags(cmd, &check)
	cutoverFlags(cmd, &cut)
	return cmd
}

func abortCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	return &cobra.Command{
		Use:   "abort RELEASE",
		Short: "End a deploy: keep traffic (switch back if a switch was never verified) and scale the idle colour down",
		Args:  cobra.ExactArgs(1),
		RunE: runner(g, stdout, stderr, connect, func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error) {
			return bluegreen.NewAbort(cfg).Run(ctx)
		}),
	}
}

func finalizeCommand(g *Global, stdout, stderr io.Writer, connect Connect) *cobra.Command {
	var (
		now      bool
		inFlight time.Duration
	)
	cmd := &cobra.Command{
		Use:   "finalize RELEASE",
		Short: "Scale the previous colour to zero once its deadline has passed (idempotent, safe from cron)",
		Args:  cobra.ExactArgs(1),
		RunE: runner(g, stdout, stderr, connect, func(ctx context.Context, cfg *bluegreen.Configuration) (*bluegreen.Result, error) {
			f := bluegreen.NewFinalize(cfg)
			f.Now, f.InFlightTimeout = now, inFlight
			return f.Run(ctx)
		}),
	}
	cmd.Flags().BoolVar(&now, "now", false, "ignore the deadline")
	cmd.Flags().DurationVar(&inFlight, "in-flight-timeout", bluegreen.NewFinalize(nil).InFlightTimeout, "bound on the wait for the old colour's in-flight user requests (chat streams) to end before it is scaled down (0: do not wait)")
	return cmd
}

// ConnectCluster builds a configuration from a kubeconfig, like helm does.
func ConnectCluster(g *Global, releaseName string, stdout io.Writer) (*bluegreen.Configuration, error) {
	settings := helmSettings(g)
	ns := settings.Namespace()
	getter := newMemoryDiscovery(settings.RESTClientGetter())
	restCfg, err := getter.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// Every wait polls a handful of objects; client-go's default 5 requests/s would
	// throttle them, so allow what kubectl allows.
	restCfg.QPS, restCfg.Burst = 50, 300
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("build kubernetes client: %w", err)
	}
	prober, err := probe.NewAPIProxy(restCfg, 10*time.Second) // one probe; the gates bound the whole
	if err != nil {
		return nil, err
	}
	var store release.Store
	if g.GitOps {
		gs, err := gitopsStore(context.Background(), g, releaseName, ns, restCfg, stdout)
		if err != nil {
			return nil, err
		}
		store = gs
	} else {
		hc := new(action.Configuration)
		if err := hc.Init(getter, ns, os.Getenv("HELM_DRIVER"), func(string, ...any) {}); err != nil {
			return nil, fmt.Errorf("initialise helm: %w", err)
		}
		if err := useCachedSecrets(hc, restCfg, kube, ns, os.Getenv("HELM_DRIVER")); err != nil {
			return nil, err
		}
		hs := release.NewHelmStore(hc, releaseName, ns)
		hs.MaxHistory = g.HistoryMax
		store = hs
	}
	return bluegreen.NewConfiguration(store, kube, prober, releaseName, ns), nil
}

// closeStore removes what the store worked in (a --git checkout).
func closeStore(cfg *bluegreen.Configuration) {
	if c, ok := cfg.Store.(interface{ Close() }); ok {
		c.Close()
	}
}

// pushHook runs the user's command after each edit of the values file.
func pushHook(command string) func(ctx context.Context, path, description string) error {
	return func(ctx context.Context, path, description string) error {
		cmd := exec.CommandContext(ctx, "sh", "-c", command)
		cmd.Env = append(os.Environ(), "BLUEGREEN_MESSAGE="+description, "BLUEGREEN_VALUES_FILE="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("push command %q: %w: %s", command, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
}
