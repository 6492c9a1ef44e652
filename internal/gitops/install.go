package gitops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/gomod"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/kubeapply"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/progress"
)

var (
	crds        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	appProjects = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "appprojects"}
	// crdFiles are the CRDs core mode needs (no ApplicationSet controller runs).
	crdFiles = []string{"application-crd.yaml", "appproject-crd.yaml"}
)

// Component names, as upstream's manifests name them: the controller finds the repo-server
// and Redis at these Service names by default.
const (
	controllerName = "argocd-application-controller"
	repoServerName = "argocd-repo-server"
	redisName      = "argocd-redis"
	redisPort      = 6379
	repoServerPort = 8081
)

// Options configures Install.
type Options struct {
	// Images are loaded into every node already (there is no registry).
	Images Images
	// ArgoCDDir is Argo CD's module directory (for its CRDs); default: found through the
	// module cache from RepoRoot's hack/modules/argocd.
	ArgoCDDir string
	// RepoRoot is this repository's root, for finding ArgoCDDir.
	RepoRoot string
	// Timeout bounds each wait; default 4 minutes.
	Timeout time.Duration
	// Logf receives progress lines; nil prints nothing.
	Logf func(format string, args ...any)
}

// Install creates or updates Argo CD core and the Git server in Namespace, and waits until
// every component is ready. Run again, it updates the objects in place.
func Install(ctx context.Context, cfg *rest.Config, o Options) error {
	if o.Timeout == 0 {
		o.Timeout = 4 * time.Minute
	}
	o.Logf = progress.Discard(o.Logf)
	start := time.Now()
	logf := progress.Since(start, o.Logf)
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	dir := o.ArgoCDDir
	if dir == "" {
		if dir, err = ArgoCDDir(o.RepoRoot); err != nil {
			return err
		}
	}
	crdObjs, err := readCRDs(dir)
	if err != nil {
		return err
	}
	for _, crd := range crdObjs {
		if err := kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(crds)}, crd, fieldManager); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.GetName(), err)
		}
	}
	if err := kubeapply.WaitCRDsEstablished(ctx, dyn, crdObjs, o.Timeout); err != nil {
		return err
	}
	logf("Argo CD %s CRDs established", ArgoCDVersion)

	if err := kubeapply.CreateOrUpdate(ctx, cs.CoreV1().Namespaces(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, fieldManager); err != nil {
		return fmt.Errorf("create namespace %s: %w", Namespace, err)
	}
	if err := ensureSecrets(ctx, cs); err != nil {
		return err
	}
	m := objects(o.Images)
	for _, s := range m.steps(ctx, cs) {
		if err := s.do(); err != nil {
			return fmt.Errorf("apply %s: %w", s.what, err)
		}
	}
	if err := kubeapply.CreateOrUpdate(ctx, kubeapply.UnstructuredClient{ResourceInterface: dyn.Resource(appProjects).Namespace(Namespace)}, defaultProject(), fieldManager); err != nil {
		return fmt.Errorf("apply AppProject default: %w", err)
	}
	logf("Argo CD core and the Git server applied in %s; waiting until they are ready", Namespace)
	for _, d := range []string{redisName, repoServerName, GitServerName} {
		if err := waitReady(ctx, o.Timeout, func(ctx context.Context) (string, bool, error) {
			obj, err := cs.AppsV1().Deployments(Namespace).Get(ctx, d, metav1.GetOptions{})
			if err != nil {
				return "", false, err
			}
			return deploymentReady(obj)
		}); err != nil {
			return fmt.Errorf("deployment %s: %w", d, err)
		}
		logf("%s ready", d)
	}
	if err := waitReady(ctx, o.Timeout, func(ctx context.Context) (string, bool, error) {
		s, err := cs.AppsV1().StatefulSets(Namespace).Get(ctx, controllerName, metav1.GetOptions{})
		if err != nil {
			return "", false, err
		}
		ok := s.Status.ObservedGeneration >= s.Generation && s.Status.UpdatedReplicas == 1 && s.Status.ReadyReplicas == 1 && s.Status.CurrentRevision == s.Status.UpdateRevision
		return fmt.Sprintf("%d ready, %d updated", s.Status.ReadyReplicas, s.Status.UpdatedReplicas), ok, nil
	}); err != nil {
		return fmt.Errorf("statefulset %s: %w", controllerName, err)
	}
	logf("%s ready: Argo CD %s core installed", controllerName, ArgoCDVersion)
	return nil
}

// Uninstall deletes Namespace (Argo CD, its Applications, the Git server) and the
// controller's cluster RBAC. The CRDs stay: other checkouts on the cluster may use them,
// and deleting them would delete every Application. Objects already gone are no error.
// Applications' finalizers are removed first, so the namespace does not hang on them.
func Uninstall(ctx context.Context, cfg *rest.Config) error {
	cs, dyn, err := kubeapply.Clients(cfg)
	if err != nil {
		return err
	}
	apps, err := dyn.Resource(applications).Namespace(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("list applications: %w", err)
	}
	if apps != nil {
		for _, a := range apps.Items {
			patch := []byte(`{"metadata":{"finalizers":null}}`)
			if _, err := dyn.Resource(applications).Namespace(Namespace).Patch(ctx, a.GetName(), "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("remove finalizers of application %s: %w", a.GetName(), err)
			}
		}
	}
	deletes := []step{
		{"namespace " + Namespace, func() error { return cs.CoreV1().Namespaces().Delete(ctx, Namespace, metav1.DeleteOptions{}) }},
		{"ClusterRoleBinding", func() error {
			return cs.RbacV1().ClusterRoleBindings().Delete(ctx, clusterRoleName, metav1.DeleteOptions{})
		}},
		{"ClusterRole", func() error { return cs.RbacV1().ClusterRoles().Delete(ctx, clusterRoleName, metav1.DeleteOptions{}) }},
	}
	for _, d := range deletes {
		if err := d.do(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete %s: %w", d.what, err)
		}
	}
	return nil
}

// ArgoCDDir returns Argo CD's module directory in the module cache, downloading it if needed.
// Argo CD's go.mod needs Go 1.27: the go command runs in the module that builds it
// (hack/modules/argocd) with that module's toolchain.
func ArgoCDDir(repoRoot string) (string, error) {
	return gomod.DirWithToolchain(filepath.Join(repoRoot, "hack", "modules", "argocd"), ArgoCDModule, toolchain)
}

// readCRDs decodes the CRDs core mode needs from Argo CD's manifests/crds.
func readCRDs(dir string) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	for _, name := range crdFiles {
		objs, err := kubeapply.ReadYAML(filepath.Join(dir, "manifests", "crds", name))
		if err != nil {
			return nil, fmt.Errorf("read Argo CD CRD: %w", err)
		}
		out = append(out, objs...)
	}
	return out, nil
}

// waitReady polls check every second until it reports ready, bounded by timeout; the error
// carries the last state it reported.
func waitReady(ctx context.Context, timeout time.Duration, check func(context.Context) (string, bool, error)) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		state, ok, err := check(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = state
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("not ready within %s (%s): %w", timeout, last, err)
	}
	return nil
}

func deploymentReady(d *appsv1.Deployment) (string, bool, error) {
	ok, state := kubeapply.DeploymentAvailable(d)
	return state, ok, nil
}

// ensureSecrets creates Redis's password (argocd-redis, key auth, which every component reads)
// and the empty argocd-secret the settings manager reads, unless they exist: a password
// changed under running pods would lock them out of Redis.
func ensureSecrets(ctx context.Context, cs kubernetes.Interface) error {
	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return fmt.Errorf("generate the redis password: %w", err)
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: meta(redisName, "redis"), StringData: map[string]string{"auth": hex.EncodeToString(pw)}},
		{ObjectMeta: meta("argocd-secret", "server")},
	} {
		if _, err := cs.CoreV1().Secrets(Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create secret %s: %w", s.Name, err)
		}
	}
	return nil
}

func meta(name, component string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: map[string]string{
		"app.kubernetes.io/name":      name,
		"app.kubernetes.io/component": component,
		"app.kubernetes.io/part-of":   "argocd",
	}}
}

// step is one write to the cluster, named for its error.
type step struct {
	what string
	do   func() error
}

const clusterRoleName = "ai-assistant-argocd-application-controller"

// manifest is Argo CD core's objects and the Git server's.
type manifest struct {
	serviceAccounts []*corev1.ServiceAccount
	clusterRole     *rbacv1.ClusterRole
	binding         *rbacv1.ClusterRoleBinding
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	deployments     []*appsv1.Deployment
	controller      *appsv1.StatefulSet
}

func (m manifest) steps(ctx context.Context, cs kubernetes.Interface) []step {
	var out []step
	for _, sa := range m.serviceAccounts {
		out = append(out, step{"ServiceAccount " + sa.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().ServiceAccounts(Namespace), sa, fieldManager)
		}})
	}
	out = append(out,
		step{"ClusterRole", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoles(), m.clusterRole, fieldManager)
		}},
		step{"ClusterRoleBinding", func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.RbacV1().ClusterRoleBindings(), m.binding, fieldManager)
		}},
	)
	for _, c := range m.configMaps {
		out = append(out, step{"ConfigMap " + c.Name, func() error { return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().ConfigMaps(Namespace), c, fieldManager) }})
	}
	for _, s := range m.services {
		out = append(out, step{"Service " + s.Name, func() error { return kubeapply.CreateOrUpdate(ctx, cs.CoreV1().Services(Namespace), s, fieldManager) }})
	}
	for _, d := range m.deployments {
		out = append(out, step{"Deployment " + d.Name, func() error {
			return kubeapply.CreateOrUpdate(ctx, cs.AppsV1().Deployments(Namespace), d, fieldManager)
		}})
	}
	return append(out, step{"StatefulSet " + m.controller.Name, func() error {
		return kubeapply.CreateOrUpdate(ctx, cs.AppsV1().StatefulSets(Namespace), m.controller, fieldManager)
	}})
}

// objects are upstream's core-install manifests (v3.6.1) cut to what a test cluster needs: no
// network policies, no TLS secrets (the repo-server makes its own certificate, which the
// controller accepts without verifying, upstream's default), images loaded into the nodes.
func objects(imgs Images) manifest {
	restricted := func(c corev1.Container) corev1.Container {
		c.ImagePullPolicy = corev1.PullNever // loaded by kind; a missing image fails at once
		c.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
		return c
	}
	podSecurity := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To(int64(999)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	redisPassword := corev1.EnvVar{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: redisName}, Key: "auth",
	}}}
	emptyDirs := func(names ...string) ([]corev1.Volume, []corev1.VolumeMount) {
		var vols []corev1.Volume
		var mounts []corev1.VolumeMount
		for i, path := range names {
			name := "scratch-" + strconv.Itoa(i)
			vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path})
		}
		return vols, mounts
	}
	httpProbe := func(path string, port int) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}},
			PeriodSeconds: 2, FailureThreshold: 3,
		}
	}
	deployment := func(name string, pod corev1.PodSpec) *appsv1.Deployment {
		m := meta(name, name)
		sel := map[string]string{"app.kubernetes.io/name": name}
		pod.SecurityContext = podSecurity
		pod.EnableServiceLinks = ptr.To(false) // a Service named argocd-redis would set ARGOCD_REDIS_PORT=tcp://...
		return &appsv1.Deployment{ObjectMeta: m, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: sel},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: m.Labels}, Spec: pod},
		}}
	}
	service := func(name string, port int, nodePort int32) *corev1.Service {
		s := &corev1.Service{ObjectMeta: meta(name, name), Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": name},
			Ports:    []corev1.ServicePort{{Name: "tcp", Port: int32(port), TargetPort: intstr.FromInt(port)}},
		}}
		if nodePort != 0 {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = nodePort
		}
		return s
	}

	redisVols, redisMounts := emptyDirs("/data")
	redis := deployment(redisName, corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{restricted(corev1.Container{
			Name: "redis", Image: imgs.Redis.Ref, Env: []corev1.EnvVar{redisPassword},
			Ports:          []corev1.ContainerPort{{ContainerPort: redisPort}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(redisPort)}}, PeriodSeconds: 2},
			VolumeMounts:   redisMounts,
		})},
		Volumes: redisVols,
	})

	repoVols, repoMounts := emptyDirs("/tmp", "/helm-working-dir", "/home/argocd")
	repoServer := deployment(repoServerName, corev1.PodSpec{
		ServiceAccountName:           repoServerName,
		AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{restricted(corev1.Container{
			Name: "repo-server", Image: imgs.ArgoCD.Ref,
			Args: []string{"/usr/local/bin/argocd-repo-server"},
			Env: []corev1.EnvVar{
				redisPassword,
				{Name: "ARGOCD_GPG_ENABLED", Value: "false"},
				{Name: "HELM_CACHE_HOME", Value: "/helm-working-dir"},
				{Name: "HELM_CONFIG_HOME", Value: "/helm-working-dir"},
				{Name: "HELM_DATA_HOME", Value: "/helm-working-dir"},
			},
			Ports:          []corev1.ContainerPort{{ContainerPort: repoServerPort}, {ContainerPort: 8084}},
			ReadinessProbe: httpProbe("/healthz", 8084),
			VolumeMounts:   repoMounts,
		})},
		Volumes: repoVols,
	})

	gitVols, gitMounts := emptyDirs("/srv/git")
	gitServer := deployment(GitServerName, corev1.PodSpec{
		AutomountServiceAccountToken: ptr.To(false),
		Containers: []corev1.Container{restricted(corev1.Container{
			Name: "git", Image: imgs.GitServer.Ref,
			Ports:          []corev1.ContainerPort{{ContainerPort: gitPort}},
			ReadinessProbe: httpProbe("/healthz", gitPort),
			VolumeMounts:   gitMounts,
		})},
		Volumes: gitVols,
	})

	ctrlVols, ctrlMounts := emptyDirs("/tmp", "/home/argocd")
	ctrlMeta := meta(controllerName, "application-controller")
	controller := &appsv1.StatefulSet{ObjectMeta: ctrlMeta, Spec: appsv1.StatefulSetSpec{
		Replicas:    ptr.To(int32(1)),
		ServiceName: controllerName,
		Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": controllerName}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: ctrlMeta.Labels}, Spec: corev1.PodSpec{
			ServiceAccountName: controllerName,
			SecurityContext:    podSecurity,
			EnableServiceLinks: ptr.To(false),
			Containers: []corev1.Container{restricted(corev1.Container{
				Name: "application-controller", Image: imgs.ArgoCD.Ref,
				Args: []string{"/usr/local/bin/argocd-application-controller"},
				Env: []corev1.EnvVar{
					redisPassword,
					{Name: "ARGOCD_CONTROLLER_REPLICAS", Value: "1"},
					// Each resource's health in the Application's status (off by default since
					// 3.0), so that a wait or a test says which resource is not Healthy.
					{Name: "ARGOCD_APPLICATION_CONTROLLER_PERSIST_RESOURCE_HEALTH", Value: "true"},
				},
				Ports:          []corev1.ContainerPort{{ContainerPort: 8082}},
				ReadinessProbe: httpProbe("/healthz", 8082),
				WorkingDir:     "/home/argocd",
				VolumeMounts:   ctrlMounts,
			})},
			Volumes: ctrlVols,
		}},
	}}

	return manifest{
		serviceAccounts: []*corev1.ServiceAccount{
			{ObjectMeta: meta(controllerName, "application-controller")},
			{ObjectMeta: meta(repoServerName, "repo-server")},
		},
		// The controller applies whatever an Application holds, anywhere: upstream's rule.
		clusterRole: &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRoleName},
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}},
				{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}},
			},
		},
		binding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: clusterRoleName},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRoleName},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: controllerName, Namespace: Namespace}},
		},
		configMaps: []*corev1.ConfigMap{
			{ObjectMeta: meta("argocd-cm", "server"), Data: map[string]string{
				// Argo CD's own poll of Git; the cutover refreshes after each push instead.
				"timeout.reconciliation": ReconciliationTimeout.String(),
				"resource.exclusions":    resourceExclusions,
			}},
			{ObjectMeta: meta("argocd-cmd-params-cm", "server")},
			{ObjectMeta: meta("argocd-rbac-cm", "server")},
			{ObjectMeta: meta("argocd-tls-certs-cm", "server")},
			{ObjectMeta: meta("argocd-ssh-known-hosts-cm", "server")},
			{ObjectMeta: meta("argocd-gpg-keys-cm", "server")},
		},
		services: []*corev1.Service{
			service(redisName, redisPort, 0),
			service(repoServerName, repoServerPort, 0),
			service(GitServerName, gitPort, GitNodePort),
		},
		deployments: []*appsv1.Deployment{redis, repoServer, gitServer},
		controller:  controller,
	}
}

// resourceExclusions are the kinds upstream's install manifest (manifests/base/config/
// argocd-cm.yaml) keeps out of the controller's cluster cache, for the kinds this cluster has.
// Without them the controller watches every Lease renewal and EndpointSlice change in the
// cluster, none of which an Application renders, and the API server serves those watches for
// the whole suite.
const resourceExclusions = `- apiGroups: ["", discovery.k8s.io]
  kinds: [Endpoints, EndpointSlice]
- apiGroups: [coordination.k8s.io]
  kinds: [Lease]
- apiGroups: [authentication.k8s.io, authorization.k8s.io]
  kinds: [SelfSubjectReview, TokenReview, LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview]
- apiGroups: [certificates.k8s.io]
  kinds: [CertificateSigningRequest]
- apiGroups: [cert-manager.io]
  kinds: [CertificateRequest]
`

// defaultProject is the AppProject "default" that Argo CD's API server creates at its first
// start; core mode has no API server.
func defaultProject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "AppProject",
		"metadata":   map[string]any{"name": "default", "namespace": Namespace},
		"spec": map[string]any{
			"sourceRepos":              []any{"*"},
			"destinations":             []any{map[string]any{"server": "*", "namespace": "*"}},
			"clusterResourceWhitelist": []any{map[string]any{"group": "*", "kind": "*"}},
		},
	}}
}
