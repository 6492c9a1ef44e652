package unit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/chartschema"
)

// The Kubernetes objects that pass through the values (security contexts, resources, probes,
// affinity, tolerations, env, volumes, pull secrets) are typed in values.schema.json by the
// OpenAPI definitions of kubeVersion, which `make schema` (hack/schemagen) writes into its
// `definitions` as io.k8s.*.

// TestSchemaKubernetesDefinitionsAreCurrent: the committed io.k8s.* definitions are what the
// generator writes now, byte for byte, so a Kubernetes bump, a new root definition or a hand
// edit without `make schema` fails here.
func TestSchemaKubernetesDefinitionsAreCurrent(t *testing.T) {
	t.Parallel()
	spec, err := chartschema.LoadSwagger(repoRoot, kubeVersion)
	require.NoError(t, err)
	want, err := chartschema.Definitions(spec, chartschema.Roots, "#/definitions/")
	require.NoError(t, err)

	committed, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	require.NoError(t, err)
	var doc struct {
		Definitions map[string]any `json:"definitions"`
	}
	require.NoError(t, json.Unmarshal(committed, &doc))
	got := map[string]any{}
	for name, def := range doc.Definitions {
		if strings.HasPrefix(name, chartschema.Prefix) {
			got[name] = def
		}
	}
	b, err := json.Marshal(want)
	require.NoError(t, err)
	var wantJSON map[string]any
	require.NoError(t, json.Unmarshal(b, &wantJSON))
	assert.Empty(t, cmp.Diff(wantJSON, got), "io.k8s.* definitions (-generated +committed): run `make schema`")

	spliced, err := chartschema.Splice(committed, chartschema.Prefix, want)
	require.NoError(t, err)
	assert.Empty(t, cmp.Diff(string(spliced), string(committed)), "values.schema.json (-generated +committed): run `make schema`")
}

// TestSchemaRejectsWrongKubernetesTypes: a wrong type anywhere inside a Kubernetes object in
// the values fails the render, naming the key as a JSON pointer, instead of the API server
// rejecting the Deployment at install time. Each shared key is tried again under each colour,
// whose key of the same name ({"$ref": "#/properties/<key>"}) must be typed the same.
func TestSchemaRejectsWrongKubernetesTypes(t *testing.T) {
	t.Parallel()
	type wrong struct {
		name string
		yaml string
		want []string // the JSON pointer of the key, then any other substring of the error
	}
	var cases []wrong
	for _, tc := range []wrong{
		{name: "read-only root filesystem as text", yaml: `securityContext: {readOnlyRootFilesystem: "true"}`, want: []string{"/securityContext/readOnlyRootFilesystem", "want boolean"}},
		{name: "unknown container security field", yaml: `securityContext: {readOnlyRootFS: true}`, want: []string{"/securityContext", "'readOnlyRootFS' not allowed"}},
		{name: "capabilities as text", yaml: `securityContext: {capabilities: {drop: ALL}}`, want: []string{"/securityContext/capabilities/drop", "want array"}},
		{name: "pod user as a name", yaml: `podSecurityContext: {runAsUser: root}`, want: []string{"/podSecurityContext/runAsUser", "want integer"}},
		{name: "seccomp profile as text", yaml: `podSecurityContext: {seccompProfile: RuntimeDefault}`, want: []string{"/podSecurityContext/seccompProfile", "want object"}},
		{name: "CPU limit as a list", yaml: `resources: {limits: {cpu: [1]}}`, want: []string{"/resources/limits/cpu", "want number or string"}},
		{name: "resources typo", yaml: `resources: {limit: {cpu: 1}}`, want: []string{"/resources", "'limit' not allowed"}},
		{name: "probe port as a boolean", yaml: `livenessProbe: {httpGet: {port: true}}`, want: []string{"/livenessProbe/httpGet/port"}},
		{name: "unknown field in a probe handler", yaml: `readinessProbe: {httpGet: {path: /ready, port: http, sheme: HTTPS}}`, want: []string{"/readinessProbe/httpGet", "'sheme' not allowed"}},
		{name: "probe header without a name", yaml: `startupProbe: {httpGet: {httpHeaders: [{value: x}]}}`, want: []string{"/startupProbe/httpGet/httpHeaders/0", "'name'"}},
		{name: "probe keeps the chart's bounds", yaml: `livenessProbe: {periodSeconds: 0}`, want: []string{"/livenessProbe/periodSeconds", "minimum"}},
		{name: "required node affinity as a list", yaml: `affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: []}}`, want: []string{"/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution", "want object"}},
		{name: "anti-affinity term without a topology key", yaml: `affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: [{labelSelector: {}}]}}`, want: []string{"/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/0", "'topologyKey'"}},
		{name: "toleration effect as a number", yaml: `tolerations: [{effect: 5}]`, want: []string{"/tolerations/0/effect", "want string"}},
		{name: "toleration seconds as text", yaml: `tolerations: [{key: k, operator: Exists, tolerationSeconds: soon}]`, want: []string{"/tolerations/0/tolerationSeconds", "want integer"}},
		{name: "env secret key as a number", yaml: `extraEnv: [{name: X, valueFrom: {secretKeyRef: {key: 1}}}]`, want: []string{"/extraEnv/0/valueFrom/secretKeyRef/key", "want string"}},
		{name: "env value as a number", yaml: `extraEnv: [{name: X, value: 1}]`, want: []string{"/extraEnv/0/value", "want string"}},
		{name: "env name keeps the chart's pattern", yaml: `extraEnv: [{name: "1X", value: a}]`, want: []string{"/extraEnv/0/name", "pattern"}},
		{name: "emptyDir size limit as an object", yaml: `extraVolumes: [{name: v, emptyDir: {sizeLimit: {}}}]`, want: []string{"/extraVolumes/0/emptyDir/sizeLimit", "want number or string"}},
		{name: "volume without a name", yaml: `extraVolumes: [{emptyDir: {}}]`, want: []string{"/extraVolumes/0", "'name'"}},
		{name: "unknown volume source", yaml: `extraVolumes: [{name: v, emptyDirectory: {}}]`, want: []string{"/extraVolumes/0", "'emptyDirectory' not allowed"}},
		{name: "volume mount read-only as text", yaml: `extraVolumeMounts: [{name: v, mountPath: /v, readOnly: "yes"}]`, want: []string{"/extraVolumeMounts/0/readOnly", "want boolean"}},
		{name: "volume mount without a path", yaml: `extraVolumeMounts: [{name: v}]`, want: []string{"/extraVolumeMounts/0", "'mountPath'"}},
		{name: "pull secret name as a number", yaml: `imagePullSecrets: [{name: 3}]`, want: []string{"/imagePullSecrets/0/name", "want string"}},
		{name: "node selector value as a number", yaml: `nodeSelector: {disktype: 1}`, want: []string{"/nodeSelector/disktype", "want string"}},
	} {
		cases = append(cases, tc)
		for _, colour := range []string{"blue", "green"} {
			cases = append(cases, wrong{
				name: tc.name + " under " + colour,
				yaml: colour + ": {" + tc.yaml + "}",
				want: append([]string{"/" + colour + tc.want[0]}, tc.want[1:]...),
			})
		}
	}
	cases = append(cases, wrong{name: "colour env", yaml: `green: {env: [{name: X, valueFrom: {fieldRef: {fieldPath: 1}}}]}`, want: []string{"/green/env/0/valueFrom/fieldRef/fieldPath", "want string"}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rel, err := renderRelease(t, values(t, tc.yaml), kubeVersion)
			require.Error(t, err, "values were accepted")
			if rel != nil {
				assert.Empty(t, rel.Manifest, "nothing rendered")
			}
			assert.Contains(t, err.Error(), "at '"+tc.want[0]+"'", "the error names the key")
			for _, w := range tc.want[1:] {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestSchemaAcceptsRealKubernetesObjects: the objects people really set still render, reach
// the pod spec unchanged and pass the Kubernetes schema there.
func TestSchemaAcceptsRealKubernetesObjects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		yaml   string
		colour string // whose Deployment to check; default blue
		check  func(t *testing.T, pod corev1.PodSpec)
	}{
		{
			name: "affinity with pod anti-affinity and node affinity",
			yaml: `
affinity:
  podAntiAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          topologyKey: kubernetes.io/hostname
          labelSelector:
            matchExpressions:
              - {key: app.kubernetes.io/name, operator: In, values: [ai-assistant]}
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: kubernetes.io/arch, operator: In, values: [amd64, arm64]}
nodeSelector:
  kubernetes.io/os: linux
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				require.NotNil(t, pod.Affinity)
				require.NotNil(t, pod.Affinity.PodAntiAffinity)
				terms := pod.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
				require.Len(t, terms, 1)
				assert.Equal(t, int32(100), terms[0].Weight)
				assert.Equal(t, "kubernetes.io/hostname", terms[0].PodAffinityTerm.TopologyKey)
				require.NotNil(t, pod.Affinity.NodeAffinity)
				assert.Len(t, pod.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, 1)
				assert.Equal(t, map[string]string{"kubernetes.io/os": "linux"}, pod.NodeSelector)
			},
		},
		{
			name: "tolerations",
			yaml: `
tolerations:
  - {key: dedicated, operator: Equal, value: llm, effect: NoSchedule}
  - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				require.Len(t, pod.Tolerations, 2)
				assert.Equal(t, corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "llm", Effect: corev1.TaintEffectNoSchedule}, pod.Tolerations[0])
				require.NotNil(t, pod.Tolerations[1].TolerationSeconds)
				assert.Equal(t, int64(30), *pod.Tolerations[1].TolerationSeconds)
			},
		},
		{
			name: "exec, TCP and header probes; httpGet dropped with null",
			yaml: `
livenessProbe:
  httpGet: null
  exec: {command: [/bin/healthcheck, --liveness]}
readinessProbe:
  httpGet: null
  tcpSocket: {port: 8000}
startupProbe:
  httpGet: {httpHeaders: [{name: X-Probe, value: startup}]}
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				c := pod.Containers[0]
				require.NotNil(t, c.LivenessProbe)
				assert.Nil(t, c.LivenessProbe.HTTPGet)
				require.NotNil(t, c.LivenessProbe.Exec)
				assert.Equal(t, []string{"/bin/healthcheck", "--liveness"}, c.LivenessProbe.Exec.Command)
				assert.Equal(t, int32(30), c.LivenessProbe.InitialDelaySeconds, "the defaults' timings stay")
				require.NotNil(t, c.ReadinessProbe.TCPSocket)
				assert.Equal(t, intstr.FromInt32(8000), c.ReadinessProbe.TCPSocket.Port)
				require.NotNil(t, c.StartupProbe.HTTPGet)
				assert.Equal(t, []corev1.HTTPHeader{{Name: "X-Probe", Value: "startup"}}, c.StartupProbe.HTTPGet.HTTPHeaders)
			},
		},
		{
			name: "probes disabled with null",
			yaml: "livenessProbe: null\nstartupProbe: null\n",
			check: func(t *testing.T, pod corev1.PodSpec) {
				c := pod.Containers[0]
				assert.Nil(t, c.LivenessProbe)
				assert.Nil(t, c.StartupProbe)
				assert.NotNil(t, c.ReadinessProbe)
			},
		},
		{
			name: "env from a secret key, a field and a resource",
			yaml: `
extraEnv:
  - name: LLM_API_KEY
    valueFrom: {secretKeyRef: {name: llm-credentials, key: api-key, optional: true}}
  - name: POD_IP
    valueFrom: {fieldRef: {fieldPath: status.podIP}}
  - name: MEMORY_LIMIT
    valueFrom: {resourceFieldRef: {containerName: api, resource: limits.memory, divisor: 1Mi}}
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				env := map[string]corev1.EnvVar{}
				for _, e := range pod.Containers[0].Env {
					env[e.Name] = e
				}
				require.Contains(t, env, "LLM_API_KEY")
				ref := env["LLM_API_KEY"].ValueFrom.SecretKeyRef
				require.NotNil(t, ref)
				assert.Equal(t, "llm-credentials", ref.Name)
				assert.Equal(t, "api-key", ref.Key)
				require.Contains(t, env, "POD_IP")
				assert.Equal(t, "status.podIP", env["POD_IP"].ValueFrom.FieldRef.FieldPath)
				require.Contains(t, env, "MEMORY_LIMIT")
				assert.True(t, resource.MustParse("1Mi").Equal(env["MEMORY_LIMIT"].ValueFrom.ResourceFieldRef.Divisor))
			},
		},
		{
			name: "projected volume and its mount",
			yaml: `
extraVolumes:
  - name: credentials
    projected:
      defaultMode: 0440
      sources:
        - secret: {name: llm-credentials, items: [{key: api-key, path: api-key}]}
        - configMap: {name: ca-bundle, optional: true}
        - serviceAccountToken: {audience: vault, expirationSeconds: 3600, path: vault-token}
        - downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}
  - name: cache
    emptyDir: {medium: Memory, sizeLimit: 128Mi}
extraVolumeMounts:
  - {name: credentials, mountPath: /var/run/credentials, readOnly: true}
  - {name: cache, mountPath: /cache}
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				vols := map[string]corev1.Volume{}
				for _, v := range pod.Volumes {
					vols[v.Name] = v
				}
				require.Contains(t, vols, "credentials")
				p := vols["credentials"].Projected
				require.NotNil(t, p)
				assert.Len(t, p.Sources, 4)
				require.NotNil(t, p.DefaultMode)
				assert.Equal(t, int32(0o440), *p.DefaultMode)
				require.NotNil(t, p.Sources[2].ServiceAccountToken)
				assert.Equal(t, "vault", p.Sources[2].ServiceAccountToken.Audience)
				require.Contains(t, vols, "cache")
				assert.True(t, resource.MustParse("128Mi").Equal(*vols["cache"].EmptyDir.SizeLimit))
				assert.Contains(t, pod.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "credentials", MountPath: "/var/run/credentials", ReadOnly: true})
			},
		},
		{
			name: "security contexts, resources and pull secrets",
			yaml: `
imagePullSecrets: [{name: registry-credentials}]
podSecurityContext:
  fsGroupChangePolicy: OnRootMismatch
  supplementalGroups: [1000]
  sysctls: [{name: net.ipv4.ip_unprivileged_port_start, value: "0"}]
securityContext:
  runAsUser: 10001
  appArmorProfile: {type: RuntimeDefault}
resources:
  requests: {cpu: 0.5, memory: 1Gi}
  limits: {cpu: 2, memory: 4Gi, nvidia.com/gpu: 1}
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				assert.Equal(t, []corev1.LocalObjectReference{{Name: "registry-credentials"}}, pod.ImagePullSecrets)
				require.NotNil(t, pod.SecurityContext.FSGroupChangePolicy)
				assert.Equal(t, corev1.FSGroupChangeOnRootMismatch, *pod.SecurityContext.FSGroupChangePolicy)
				assert.Equal(t, []int64{1000}, pod.SecurityContext.SupplementalGroups)
				c := pod.Containers[0]
				require.NotNil(t, c.SecurityContext.RunAsUser)
				assert.Equal(t, int64(10001), *c.SecurityContext.RunAsUser)
				assert.True(t, resource.MustParse("500m").Equal(c.Resources.Requests[corev1.ResourceCPU]))
				assert.True(t, resource.MustParse("1").Equal(c.Resources.Limits["nvidia.com/gpu"]))
			},
		},
		{
			name:   "a colour's own objects",
			colour: "green",
			yaml: `
green:
  replicas: 1
  tolerations: [{key: dedicated, operator: Equal, value: canary, effect: NoSchedule}]
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector: {matchLabels: {app.kubernetes.io/name: ai-assistant}}
  livenessProbe: {exec: {command: [/bin/healthcheck]}, periodSeconds: 20}
  startupProbe: {}
  securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: {drop: [ALL]}}
  extraVolumes: [{name: canary, configMap: {name: canary-flags, defaultMode: 0444}}]
  extraVolumeMounts: [{name: canary, mountPath: /etc/canary, readOnly: true}]
`,
			check: func(t *testing.T, pod corev1.PodSpec) {
				require.Len(t, pod.Tolerations, 1)
				assert.Equal(t, "canary", pod.Tolerations[0].Value)
				require.NotNil(t, pod.Affinity)
				assert.Len(t, pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, 1)
				c := pod.Containers[0]
				require.NotNil(t, c.LivenessProbe.Exec)
				assert.Nil(t, c.LivenessProbe.HTTPGet, "the colour's probe replaces the shared one")
				assert.Nil(t, c.StartupProbe, "an empty probe disables it")
				assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "canary", MountPath: "/etc/canary", ReadOnly: true})
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := render(t, values(t, tc.yaml))
			assertValidAgainstSchemas(t, r)
			colour := tc.colour
			if colour == "" {
				colour = "blue"
			}
			tc.check(t, get[*appsv1.Deployment](t, r, "ai-assistant-"+colour).Spec.Template.Spec)
		})
	}
}
