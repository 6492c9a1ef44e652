package stack

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Names and ports of the dependencies inside the namespace.
const (
	PostgresName = "postgres"
	RedisName    = "redis"
	StandinName  = "llm-standin"
	StandinPort  = 8080
	// StandinAPIKey is the key the stand-in requires (STANDIN_API_KEY) and Values gives the
	// release (DEEPSEEK_API_KEY), so a release given another key is not ready.
	StandinAPIKey = "stand-in-key"
	// dbPassword guards a throwaway database that lives as long as a test namespace.
	dbPassword = "ai-assistant-test"
)

// Dependencies are the in-namespace services the server's /ready checks.
type Dependencies struct {
	Namespace   string
	DatabaseURL string
	RedisURL    string
	// LLMBaseURL is the stand-in's OpenAI-compatible base URL; LLMScopeURL(name) is the same
	// stand-in under a scope that a test can make fail alone.
	LLMBaseURL string
}

// LLMScopeURL is the base URL of a stand-in scope, e.g. one colour's.
func (d Dependencies) LLMScopeURL(scope string) string {
	return fmt.Sprintf("http://%s:%d/scope/%s/v1", StandinName, StandinPort, scope)
}

// A PodOption adjusts the dependencies' pod spec, e.g. OnControlPlane.
type PodOption func(*corev1.PodSpec)

// OnControlPlane schedules a dependency on the control-plane node (tolerating its taint), so
// that draining a worker leaves the dependencies running and tests only the application.
func OnControlPlane(s *corev1.PodSpec) {
	const role = "node-role.kubernetes.io/control-plane"
	s.NodeSelector = map[string]string{role: ""}
	s.Tolerations = append(s.Tolerations, corev1.Toleration{Key: role, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
}

// DeployDependencies creates PostgreSQL, Redis and the LLM stand-in in ns (CreateDependencies)
// and waits, bounded by timeout, until each is available (WaitDependencies).
func DeployDependencies(ctx context.Context, cs kubernetes.Interface, ns string, imgs Images, timeout time.Duration, opts ...PodOption) (Dependencies, error) {
	deps, err := CreateDependencies(ctx, cs, ns, imgs, opts...)
	if err != nil {
		return Dependencies{}, err
	}
	return deps, WaitDependencies(ctx, cs, ns, timeout)
}

// CreateDependencies creates PostgreSQL, Redis and the LLM stand-in in ns (restricted Pod
// Security: non-root, no privilege escalation, RuntimeDefault seccomp) and returns at once:
// a release can be installed while they start, since the server connects lazily and its
// /ready reports them until they answer.
func CreateDependencies(ctx context.Context, cs kubernetes.Interface, ns string, imgs Images, opts ...PodOption) (Dependencies, error) {
	for _, o := range dependencies(imgs) {
		for _, opt := range opts {
			opt(&o.deploy.Spec.Template.Spec)
		}
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx, o.deploy, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return Dependencies{}, fmt.Errorf("create deployment %s: %w", o.deploy.Name, err)
		}
		if _, err := cs.CoreV1().Services(ns).Create(ctx, service(o.deploy.Name, o.port), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return Dependencies{}, fmt.Errorf("create service %s: %w", o.deploy.Name, err)
		}
	}
	return Dependencies{
		Namespace:   ns,
		DatabaseURL: fmt.Sprintf("postgres://assistant:%s@%s:5432/assistant?sslmode=disable", dbPassword, PostgresName),
		RedisURL:    fmt.Sprintf("redis://%s:6379/0", RedisName),
		LLMBaseURL:  fmt.Sprintf("http://%s:%d/v1", StandinName, StandinPort),
	}, nil
}

// WaitDependencies waits, bounded by timeout each, until the dependencies in ns are available.
func WaitDependencies(ctx context.Context, cs kubernetes.Interface, ns string, timeout time.Duration) error {
	for _, name := range []string{PostgresName, RedisName, StandinName} {
		if err := WaitAvailable(ctx, cs, ns, name, timeout); err != nil {
			return err
		}
	}
	return nil
}

type dependencyObjects struct {
	deploy *appsv1.Deployment
	port   int32
}

func dependencies(imgs Images) []dependencyObjects {
	return []dependencyObjects{
		{dependency(PostgresName, imgs.Postgres.Ref, 5432, 999, []corev1.EnvVar{
			{Name: "POSTGRES_USER", Value: "assistant"},
			{Name: "POSTGRES_PASSWORD", Value: dbPassword},
			{Name: "POSTGRES_DB", Value: "assistant"},
		}, "/var/lib/postgresql/data"), 5432},
		{dependency(RedisName, imgs.Redis.Ref, 6379, 999, nil, "/data"), 6379},
		{dependency(StandinName, imgs.Standin.Ref, StandinPort, 65532, []corev1.EnvVar{
			{Name: "STANDIN_API_KEY", Value: StandinAPIKey},
		}, ""), StandinPort},
	}
}

// ScaleDependency sets a dependency's replicas, e.g. to 0 to simulate an outage.
func ScaleDependency(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) error {
	scale, err := cs.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get scale of %s: %w", name, err)
	}
	scale.Spec.Replicas = replicas
	if _, err := cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, scale, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scale %s to %d: %w", name, replicas, err)
	}
	return nil
}

// WaitAvailable waits until a Deployment's current generation is fully rolled out and every
// replica is available.
func WaitAvailable(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		want := ptr.Deref(d.Spec.Replicas, 1)
		last = fmt.Sprintf("%d/%d available, %d updated", d.Status.AvailableReplicas, want, d.Status.UpdatedReplicas)
		return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
			d.Status.AvailableReplicas == want && d.Status.Replicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s not available within %s (%s): %w", ns, name, timeout, last, err)
	}
	return nil
}

// dependency is a single-replica Deployment that passes Pod Security "restricted".
func dependency(name, image string, port int32, uid int64, env []corev1.EnvVar, dataDir string) *appsv1.Deployment {
	labels := map[string]string{"app.kubernetes.io/name": name}
	c := corev1.Container{
		Name:            name,
		Image:           image,
		ImagePullPolicy: corev1.PullNever, // loaded into the nodes; there is no registry
		Env:             env,
		Ports:           []corev1.ContainerPort{{Name: "tcp", ContainerPort: port}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}},
			PeriodSeconds: 2,
		},
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			RunAsNonRoot:             ptr.To(true),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
	}
	spec := corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser:      ptr.To(uid),
			RunAsGroup:     ptr.To(uid),
			FSGroup:        ptr.To(uid),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{c},
	}
	if dataDir != "" {
		spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: dataDir}}
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			// A dependency is replaced, never doubled: two PostgreSQL on one emptyDir is no test.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

func service(name string, port int32) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": name},
			Ports:    []corev1.ServicePort{{Name: "tcp", Port: port, TargetPort: intstr.FromInt32(port)}},
		},
	}
}
