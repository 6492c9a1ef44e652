package unit

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/snapshot"
	bgvalues "github.com/ai-assistant-chart/ai-assistant-chart/internal/bluegreen/values"
)

// stagedValues is a release in the middle of a deploy: blue serves, green is scaled up for
// its gates. Every change below is staged under green, as `bluegreen deploy --set` writes it.
const stagedValues = `
activeColor: blue
green: {replicas: 3}
`

// quantities compares resource.Quantity by value: its cached string is not part of it.
var quantities = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// colourObjects is what one colour's pods are made of: its Deployment and every ConfigMap and
// Secret its pods mount, as rendered text and typed objects.
type colourObjects struct {
	docs    map[string]doc // "Kind/name" -> document
	deploy  *appsv1.Deployment
	config  *corev1.ConfigMap // nil when not rendered
	secret  *corev1.Secret    // nil when the colour uses an existing Secret
	secName string
}

func objectsOf(t *testing.T, r *rendered, color string) colourObjects {
	t.Helper()
	d := get[*appsv1.Deployment](t, r, "ai-assistant-"+color)
	o := colourObjects{docs: map[string]doc{}, deploy: d}
	for _, src := range d.Spec.Template.Spec.Containers[0].EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			o.config = get[*corev1.ConfigMap](t, r, src.ConfigMapRef.Name)
		case src.SecretRef != nil:
			o.secName = src.SecretRef.Name
			o.secret = find[*corev1.Secret](r, src.SecretRef.Name)
		}
	}
	require.NotNil(t, o.config, "%s mounts a ConfigMap", color)
	for _, dd := range r.Docs {
		switch kindName(dd.Object) {
		case "Deployment/" + d.Name, "ConfigMap/" + o.config.Name, "Secret/" + o.secName:
			o.docs[kindName(dd.Object)] = dd
		}
	}
	return o
}

// assertUnchanged fails unless the colour's Deployment and mounted objects are byte-identical
// (and, for a readable diff, equal as typed objects).
func assertUnchanged(t *testing.T, before, after colourObjects, what string) {
	t.Helper()
	require.Equal(t, keys(before.docs), keys(after.docs), "%s: the same objects", what)
	for name, b := range before.docs {
		a := after.docs[name]
		if diff := cmp.Diff(b.Object, a.Object, quantities); diff != "" {
			t.Errorf("%s: %s changed (-before +after):\n%s", what, name, diff)
			continue
		}
		assert.Equal(t, b.YAML, a.YAML, "%s: %s is byte-identical", what, name)
	}
}

func keys(m map[string]doc) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sortedStrings(out)
}

// TestAChangeUnderTheIdleColourNeverTouchesTheActiveOne is the snapshot invariant: any
// pod-shaping change staged under the idle colour leaves the active colour's Deployment and
// every object its pods mount byte-identical, and the idle colour carries the change.
func TestAChangeUnderTheIdleColourNeverTouchesTheActiveOne(t *testing.T) {
	t.Parallel()
	api := func(o colourObjects) corev1.Container { return o.deploy.Spec.Template.Spec.Containers[0] }
	envOf := func(o colourObjects, name string) string {
		for _, e := range api(o).Env {
			if e.Name == name {
				return e.Value
			}
		}
		return "<unset>"
	}
	for _, tc := range []struct {
		name  string
		yaml  string // merged over stagedValues, under green
		check func(t *testing.T, green colourObjects)
	}{
		{"config DEFAULT_MODEL", `{config: {DEFAULT_MODEL: gpt-4o-mini}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "gpt-4o-mini", g.config.Data["DEFAULT_MODEL"])
			assert.Equal(t, "4096", g.config.Data["MAX_TOKENS"], "the shared keys stay")
		}},
		{"config MAX_TOKENS", `{config: {MAX_TOKENS: "8192"}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "8192", g.config.Data["MAX_TOKENS"])
		}},
		{"config a new key", `{config: {LLM_BASE_URL: "http://llm-b:8080/v1"}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "http://llm-b:8080/v1", g.config.Data["LLM_BASE_URL"])
		}},
		{"config vector DB", `{config: {VECTOR_DB_HOST: milvus-b}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "milvus-b", g.config.Data["VECTOR_DB_HOST"])
		}},
		{"config log level", `{config: {LOG_LEVEL: DEBUG}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "DEBUG", g.config.Data["LOG_LEVEL"])
		}},
		{"secret LLM key", `{secrets: {DEEPSEEK_API_KEY: sk-green}}`, func(t *testing.T, g colourObjects) {
			require.NotNil(t, g.secret)
			assert.Equal(t, "sk-green", g.secret.StringData["DEEPSEEK_API_KEY"])
		}},
		{"secret database URL", `{secrets: {DATABASE_URL: "postgres://u:p@pg-b:5432/db"}}`, func(t *testing.T, g colourObjects) {
			require.NotNil(t, g.secret)
			assert.Equal(t, "postgres://u:p@pg-b:5432/db", g.secret.StringData["DATABASE_URL"])
		}},
		{"existingSecret", `{existingSecret: vault-green}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "vault-green", g.secName)
			assert.Nil(t, g.secret, "no chart Secret for a colour on an existing one")
		}},
		{"env", `{env: [{name: FEATURE_X, value: "on"}]}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "on", envOf(g, "FEATURE_X"))
		}},
		{"extraEnv", `{extraEnv: [{name: HTTP_PROXY, value: "http://proxy:3128"}]}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "http://proxy:3128", envOf(g, "HTTP_PROXY"))
		}},
		{"resources", `{resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "2", memory: 4Gi}}}`, func(t *testing.T, g colourObjects) {
			lim := api(g).Resources.Limits
			assert.Equal(t, "2", lim.Cpu().String())
		}},
		{"livenessProbe", `{livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 20}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int32(20), api(g).LivenessProbe.PeriodSeconds)
		}},
		{"readinessProbe", `{readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 2}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int32(2), api(g).ReadinessProbe.PeriodSeconds)
		}},
		{"startupProbe", `{startupProbe: {httpGet: {path: /health, port: http}, failureThreshold: 60}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int32(60), api(g).StartupProbe.FailureThreshold)
		}},
		{"podAnnotations", `{podAnnotations: {example.com/canary: "yes"}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "yes", g.deploy.Spec.Template.Annotations["example.com/canary"])
			assert.Equal(t, "true", g.deploy.Spec.Template.Annotations["prometheus.io/scrape"], "merged over the shared ones")
		}},
		{"podLabels", `{podLabels: {team: ai}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "ai", g.deploy.Spec.Template.Labels["team"])
		}},
		{"nodeSelector", `{nodeSelector: {pool: gpu}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, map[string]string{"pool": "gpu"}, g.deploy.Spec.Template.Spec.NodeSelector)
		}},
		{"tolerations", `{tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]}`, func(t *testing.T, g colourObjects) {
			require.Len(t, g.deploy.Spec.Template.Spec.Tolerations, 1)
			assert.Equal(t, "gpu", g.deploy.Spec.Template.Spec.Tolerations[0].Key)
		}},
		{"affinity", `{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [gpu]}]}]}}}}`, func(t *testing.T, g colourObjects) {
			require.NotNil(t, g.deploy.Spec.Template.Spec.Affinity)
			assert.NotNil(t, g.deploy.Spec.Template.Spec.Affinity.NodeAffinity)
		}},
		{"terminationGracePeriodSeconds", `{terminationGracePeriodSeconds: 330}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int64(330), *g.deploy.Spec.Template.Spec.TerminationGracePeriodSeconds)
		}},
		{"preStopSleepSeconds", `{preStopSleepSeconds: 20}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int64(20), api(g).Lifecycle.PreStop.Sleep.Seconds)
		}},
		{"image tag", `{image: {tag: v2.0.0}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "your-registry/ai-assistant:v2.0.0", api(g).Image)
		}},
		{"image digest", `{image: {digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "your-registry/ai-assistant@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", api(g).Image)
		}},
		{"image repository", `{image: {repository: registry.example.com/ai/assistant}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "registry.example.com/ai/assistant:v1.0.0", api(g).Image)
		}},
		{"image pullPolicy", `{image: {pullPolicy: Always}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, corev1.PullAlways, api(g).ImagePullPolicy)
		}},
		{"podSecurityContext", `{podSecurityContext: {runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: {type: RuntimeDefault}}}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, int64(10001), *g.deploy.Spec.Template.Spec.SecurityContext.RunAsUser)
		}},
		{"securityContext", `{securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: false, runAsNonRoot: true, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}}`, func(t *testing.T, g colourObjects) {
			assert.False(t, *api(g).SecurityContext.ReadOnlyRootFilesystem)
		}},
		{"priorityClassName", `{priorityClassName: high}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, "high", g.deploy.Spec.Template.Spec.PriorityClassName)
		}},
		{"imagePullSecrets", `{imagePullSecrets: [{name: pull-green}]}`, func(t *testing.T, g colourObjects) {
			assert.Equal(t, []corev1.LocalObjectReference{{Name: "pull-green"}}, g.deploy.Spec.Template.Spec.ImagePullSecrets)
		}},
		{"extra volumes and mounts", `{extraVolumes: [{name: prompts, configMap: {name: prompts-v2}}], extraVolumeMounts: [{name: prompts, mountPath: /prompts}]}`, func(t *testing.T, g colourObjects) {
			assert.Len(t, g.deploy.Spec.Template.Spec.Volumes, 2)
			assert.Len(t, api(g).VolumeMounts, 2)
		}},
		{"topologySpread", `{topologySpread: {enabled: true, topologyKeys: [topology.kubernetes.io/zone], maxSkew: 2, whenUnsatisfiable: DoNotSchedule}}`, func(t *testing.T, g colourObjects) {
			require.Len(t, g.deploy.Spec.Template.Spec.TopologySpreadConstraints, 1)
			assert.Equal(t, int32(2), g.deploy.Spec.Template.Spec.TopologySpreadConstraints[0].MaxSkew)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := render(t, values(t, stagedValues))
			after := render(t, stageUnderGreen(t, stagedValues, tc.yaml))

			assertUnchanged(t, objectsOf(t, before, "blue"), objectsOf(t, after, "blue"), "blue (active)")
			g0, g1 := objectsOf(t, before, "green"), objectsOf(t, after, "green")
			assert.NotEqual(t, g0.docs["Deployment/ai-assistant-green"].YAML, g1.docs["Deployment/ai-assistant-green"].YAML,
				"the change reaches green's Deployment, so green's pods roll")
			tc.check(t, g1)
		})
	}
}

// TestAChartUpgradeWithTheSameValuesRollsNoPods: the chart's version and appVersion never
// reach a pod template. A colour whose tag is pinned keeps its image through an appVersion
// change, while a colour that follows appVersion (the idle one, here) takes it.
func TestAChartUpgradeWithTheSameValuesRollsNoPods(t *testing.T) {
	t.Parallel()
	renderAs := func(t *testing.T, mutate func(*chart.Metadata), vals map[string]any) *rendered {
		ch := loadChart(t)
		mutate(ch.Metadata)
		rel, err := renderChart(t, ch, releaseName, vals, kubeVersion)
		require.NoError(t, err)
		return decodeRelease(t, rel)
	}
	specs := func(r *rendered) map[string]any {
		out := map[string]any{}
		for _, d := range r.Docs {
			switch o := d.Object.(type) {
			case *appsv1.Deployment:
				out["Deployment/"+o.Name] = o.Spec
			case *corev1.ConfigMap:
				out["ConfigMap/"+o.Name] = o.Data
			case *corev1.Secret:
				out["Secret/"+o.Name] = o.StringData
			}
		}
		return out
	}

	t.Run("chart version", func(t *testing.T) {
		t.Parallel()
		vals := values(t, stagedValues)
		before := renderAs(t, func(*chart.Metadata) {}, vals)
		after := renderAs(t, func(m *chart.Metadata) { m.Version = "9.9.9" }, vals)
		if diff := cmp.Diff(specs(before), specs(after), quantities); diff != "" {
			t.Errorf("a chart version bump changed a Deployment spec or mounted data (-before +after):\n%s", diff)
		}
		assert.Equal(t, "ai-assistant-9.9.9", get[*appsv1.Deployment](t, after, "ai-assistant-blue").Labels["helm.sh/chart"],
			"the version stays on the objects' metadata")
	})
	t.Run("appVersion", func(t *testing.T) {
		t.Parallel()
		vals := values(t, stagedValues, "blue.image.tag=v1.0.0")
		before := renderAs(t, func(*chart.Metadata) {}, vals)
		after := renderAs(t, func(m *chart.Metadata) { m.AppVersion = "v1.1.0" }, vals)
		assertUnchanged(t, objectsOf(t, before, "blue"), objectsOf(t, after, "blue"), "blue (active, pinned)")
		assert.Equal(t, "your-registry/ai-assistant:v1.1.0", objectsOf(t, after, "green").deploy.Spec.Template.Spec.Containers[0].Image)
	})
}

// TestSharedKeysRollEveryColourThatFollowsThem pins what the chart README says still rolls
// both colours: a shared key reaches every colour that does not set its own, and a colour that
// sets its own is immune. Keys with no per-colour form are listed in sharedOnly.
func TestSharedKeysRollEveryColourThatFollowsThem(t *testing.T) {
	t.Parallel()
	base := values(t, stagedValues)
	pinned := values(t, stagedValues+"\nblue: {config: {LOG_LEVEL: INFO}, image: {tag: v1.0.0}}\n")
	for _, tc := range []struct {
		name       string
		set        string
		sharedOnly bool // no per-colour form: it rolls both colours whatever they pin
	}{
		{"shared config", "config.LOG_LEVEL=DEBUG", false},
		{"containerPort", "containerPort=8080", true},
		{"serviceAccount.name", "serviceAccount.name=other", true},
		{"serviceAccount token", "serviceAccount.automountServiceAccountToken=true", true},
		{"serviceAccount.create", "serviceAccount.create=false", true},
		{"shared image tag", "image.tag=v1.1.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, vals := range []map[string]any{base, pinned} {
				before := render(t, vals)
				changed := copyValues(vals)
				require.NoError(t, strvalsParseInto(tc.set, changed))
				after := render(t, changed)
				blueSame := cmp.Diff(objectsOf(t, before, "blue").deploy.Spec.Template, objectsOf(t, after, "blue").deploy.Spec.Template, quantities) == ""
				greenSame := cmp.Diff(objectsOf(t, before, "green").deploy.Spec.Template, objectsOf(t, after, "green").deploy.Spec.Template, quantities) == ""
				assert.False(t, greenSame, "green follows the shared key")
				_, bluePins := vals["blue"]
				wantBlueSame := bluePins && !tc.sharedOnly
				assert.Equal(t, wantBlueSame, blueSame, "blue pinned=%v sharedOnly=%v", bluePins, tc.sharedOnly)
			}
		})
	}
}

func yamlUnmarshal(doc string, out *map[string]any) error { return yaml.Unmarshal([]byte(doc), out) }

// stageUnderGreen returns base's values with change (a YAML map) merged into green's block,
// as `bluegreen deploy --set` stages it.
func stageUnderGreen(t *testing.T, base, change string) map[string]any {
	t.Helper()
	vals := values(t, base)
	var over map[string]any
	require.NoError(t, yamlUnmarshal(change, &over))
	vals["green"] = mergeMaps(vals["green"].(map[string]any), over)
	return vals
}

// mergeMaps returns over merged onto base, over's keys winning, as Helm merges values files.
func mergeMaps(base, over map[string]any) map[string]any {
	return chartutil.CoalesceTables(copyValues(over), copyValues(base))
}

func copyValues(m map[string]any) map[string]any {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func strvalsParseInto(set string, into map[string]any) error { return strvals.ParseInto(set, into) }

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

// TestNotesShowWhatDiffersBetweenTheColours: NOTES name every key in which the staged colour
// differs from the serving one (a secret by its key only), and warn when the shared values are
// not what the serving colour runs, or when its image follows appVersion.
func TestNotesShowWhatDiffersBetweenTheColours(t *testing.T) {
	t.Parallel()
	t.Run("staged change", func(t *testing.T) {
		t.Parallel()
		r := render(t, values(t, stagedValues, "blue.image.tag=v1.0.0", "green.image.tag=v2.0.0",
			"green.config.DEFAULT_MODEL=gpt-4o-mini", "green.secrets.DEEPSEEK_API_KEY=sk-do-not-print", "green.resources.limits.cpu=2"))
		assert.Contains(t, r.Notes, "green differs from blue in: image, resources, config.DEFAULT_MODEL, secrets.DEEPSEEK_API_KEY.")
		assert.NotContains(t, r.Notes, "sk-do-not-print")
		assert.NotContains(t, r.Notes, "WARNING")
	})
	t.Run("serving colour overrides the shared values", func(t *testing.T) {
		t.Parallel()
		r := render(t, values(t, "", "blue.image.tag=v1.0.0", "blue.config.LOG_LEVEL=DEBUG", "blue.resources.limits.cpu=2"))
		assert.Contains(t, r.Notes, "WARNING: the shared values differ from what blue (serving) runs: it sets its own resources, config.LOG_LEVEL.")
	})
	t.Run("serving colour follows appVersion", func(t *testing.T) {
		t.Parallel()
		r := render(t, nil)
		assert.Contains(t, r.Notes, "NOTE: blue (serving) runs your-registry/ai-assistant:v1.0.0 from the chart's appVersion")
		assert.Contains(t, r.Notes, "--set blue.image.tag=v1.0.0")
	})
}

// TestTheCommandsSnapshotRulesAreTheCharts pins internal/bluegreen/snapshot (what `bluegreen
// status` and `deploy` compute) to the chart's colorValues helper (what NOTES print): for every
// change of the invariant table, both name the same differing keys.
func TestTheCommandsSnapshotRulesAreTheCharts(t *testing.T) {
	t.Parallel()
	for _, change := range []string{
		`{config: {DEFAULT_MODEL: gpt-4o-mini, LLM_BASE_URL: "http://b/v1"}}`,
		`{secrets: {DEEPSEEK_API_KEY: sk-green}, existingSecret: vault}`,
		`{resources: {limits: {cpu: "2"}}, readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 2}}`,
		`{env: [{name: A, value: "1"}], extraEnv: [{name: B, value: "2"}], podLabels: {team: ai}, podAnnotations: {x: "1"}}`,
		`{image: {tag: v2.0.0, pullPolicy: Always}, tolerations: [{key: gpu, operator: Exists}], terminationGracePeriodSeconds: 90}`,
	} {
		t.Run(change, func(t *testing.T) {
			t.Parallel()
			vals := stageUnderGreen(t, stagedValues, change)
			all, appVersion := coalesced(t, vals), loadChart(t).Metadata.AppVersion
			diff := snapshot.Diff(snapshot.Of(all, "blue", appVersion), snapshot.Of(all, "green", appVersion))
			require.NotEmpty(t, diff)
			assert.Contains(t, render(t, vals).Notes, "green differs from blue in: "+strings.Join(diff, ", ")+".")
		})
	}
}

// TestRebaseAtTheSwitchRendersTheSamePods: the values change the switch makes (shared block :=
// what the new colour runs; the old colour keeps only what differs) renders every Deployment,
// ConfigMap and Secret of both colours byte-identically, leaves the serving colour with no
// keys of its own, and survives a switch back. Run over every change of the invariant table.
func TestRebaseAtTheSwitchRendersTheSamePods(t *testing.T) {
	t.Parallel()
	changes := []string{
		`{config: {DEFAULT_MODEL: gpt-4o-mini, MAX_TOKENS: "8192"}}`,
		`{config: {LLM_BASE_URL: "http://llm-b:8080/v1"}}`,
		`{secrets: {DEEPSEEK_API_KEY: sk-green, DATABASE_URL: "postgres://u:p@pg-b:5432/db"}}`,
		`{existingSecret: vault-green}`,
		`{env: [{name: FEATURE_X, value: "on"}]}`,
		`{extraEnv: [{name: HTTP_PROXY, value: "http://proxy:3128"}]}`,
		`{resources: {limits: {cpu: "2"}}}`,
		`{resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {cpu: "2", memory: 4Gi}}}`,
		`{livenessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 20}, startupProbe: {}}`,
		`{readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 2}}`,
		`{podAnnotations: {example.com/canary: "yes", prometheus.io/scrape: "false"}, podLabels: {team: ai}}`,
		`{nodeSelector: {pool: gpu}, tolerations: [{key: gpu, operator: Exists, effect: NoSchedule}]}`,
		`{affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [gpu]}]}]}}}}`,
		`{terminationGracePeriodSeconds: 330, preStopSleepSeconds: 20}`,
		`{image: {tag: v2.0.0, pullPolicy: Always, repository: registry.example.com/ai/assistant}}`,
		`{podSecurityContext: {runAsNonRoot: true, runAsUser: 10001}, securityContext: {readOnlyRootFilesystem: false}}`,
		`{priorityClassName: high, imagePullSecrets: [{name: pull-green}], topologySpread: {enabled: false, topologyKeys: [kubernetes.io/hostname], maxSkew: 1, whenUnsatisfiable: ScheduleAnyway}}`,
		`{extraVolumes: [{name: prompts, configMap: {name: prompts-v2}}], extraVolumeMounts: [{name: prompts, mountPath: /prompts}]}`,
	}
	// A release where blue also sets keys of its own, and the shared block is not the chart's.
	const busy = `
activeColor: blue
config: {LOG_LEVEL: WARNING, EXTRA_SHARED: "1"}
resources: {requests: {cpu: 100m}}
blue: {config: {DEFAULT_MODEL: blue-model}, terminationGracePeriodSeconds: 45}
green: {replicas: 3}
`
	for _, base := range []string{stagedValues, busy} {
		for _, change := range changes {
			t.Run(change, func(t *testing.T) {
				t.Parallel()
				vals := stageUnderGreen(t, base, change)
				vals["activeColor"] = "green"
				want := render(t, vals)

				switched := rebase(t, vals, "green", "blue")
				got := render(t, switched)
				for _, color := range []string{"blue", "green"} {
					assertUnchanged(t, objectsOf(t, want, color), objectsOf(t, got, color), color+" after the rebase")
				}
				// Green keeps only what is its own by nature (tag, digest, env, replicas) and the map
				// entries blue lacks, which the shared block cannot hold without giving them to blue.
				green := switched["green"].(map[string]any)
				for k, v := range green {
					switch k {
					case "replicas", "scaleDownAt", "env":
					case "image":
						for kk := range v.(map[string]any) {
							assert.Contains(t, []string{"tag", "digest"}, kk, "green.image.%s after the rebase", kk)
						}
					case "config", "secrets", "podAnnotations", "podLabels":
						blue := snapshot.Of(coalesced(t, switched), "blue", "v1.0.0")[k].(map[string]any)
						for kk := range v.(map[string]any) {
							assert.NotContains(t, blue, kk, "green.%s.%s stays green's only because blue lacks it", k, kk)
						}
					default:
						t.Errorf("green keeps %s after the rebase", k)
					}
				}

				back := rebase(t, switched, "blue", "green")
				back["activeColor"] = "blue"
				vals["activeColor"] = "blue"
				wantBack, gotBack := render(t, vals), render(t, back)
				for _, color := range []string{"blue", "green"} {
					assertUnchanged(t, objectsOf(t, wantBack, color), objectsOf(t, gotBack, color), color+" after switching back")
				}
			})
		}
	}
}

func coalesced(t *testing.T, user map[string]any) map[string]any {
	t.Helper()
	all, err := chartutil.CoalesceValues(loadChart(t), copyValues(user))
	require.NoError(t, err)
	return all
}

// rebase applies snapshot.Rebase to user values as the switch's Helm upgrade does.
func rebase(t *testing.T, user map[string]any, to, from string) map[string]any {
	t.Helper()
	ch := loadChart(t)
	return bgvalues.Change(snapshot.Rebase(coalesced(t, user), ch.Values, to, from, ch.Metadata.AppVersion)).Merge(copyValues(user))
}
