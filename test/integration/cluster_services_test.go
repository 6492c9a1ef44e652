//go:build integration

package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/ai-assistant-chart/ai-assistant-chart/internal/cluster"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/debimage"
	"github.com/ai-assistant-chart/ai-assistant-chart/internal/imagebuild"
)

// TestClusterRunsServiceImages: the Debian-based PostgreSQL and Redis images load into the
// cluster, run as non-root under a restricted securityContext with a read-only root
// filesystem, and answer real clients (pgx, go-redis) through NodePorts 30083/30084 on 127.0.0.1.
func TestClusterRunsServiceImages(t *testing.T) {
	parallel(t) // its own node ports (30083-30085), none of mainPorts
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c := clusterForTest(t, ctx, cluster.Options{})
	root := filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(c.KubeconfigPath)))) // <root>/.cache/kind/<name>/kubeconfig
	pg, rd, err := debimage.EnsureServiceImages(ctx, filepath.Join(root, ".cache", "kindnode"), imagebuild.MachineCacheDir(root), t.Logf)
	if err != nil {
		t.Fatalf("build service images (needs root, Docker and the apt mirror): %v", err)
	}
	if err := c.LoadImageArchives(ctx, pg.Tarball, rd.Tarball); err != nil {
		t.Fatalf("load service images: %v", err)
	}
	ns := clusterTestNamespace(t, ctx, c.Clientset, "cluster-svc")
	const password = "test-only-password"

	type svc struct {
		name, image string
		port        int32
		nodePort    int32
		env         []corev1.EnvVar
		mounts      []string
		ready       []string
	}
	for _, s := range []svc{
		{"postgres", pg.Ref, 5432, 30084, []corev1.EnvVar{{Name: "POSTGRES_PASSWORD", Value: password}, {Name: "POSTGRES_DB", Value: "app"}},
			[]string{"/var/lib/postgresql/data", "/tmp"}, []string{"pg_isready", "-h", "127.0.0.1"}},
		{"redis", rd.Ref, 6379, 30083, []corev1.EnvVar{{Name: "REDIS_PASSWORD", Value: password}},
			[]string{"/data"}, []string{"sh", "-c", `redis-cli -a "$REDIS_PASSWORD" --no-auth-warning ping | grep -q PONG`}},
	} {
		d := clusterServerDeployment(s.name, s.image, 1, false)
		pod := &d.Spec.Template.Spec
		uid, no, yes := int64(debimage.ServiceUID), false, true
		pod.SecurityContext.RunAsUser, pod.SecurityContext.FSGroup = &uid, &uid
		ctr := &pod.Containers[0]
		ctr.Env = s.env
		ctr.Ports = []corev1.ContainerPort{{Name: "tcp", ContainerPort: s.port}}
		ctr.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: s.ready}}, PeriodSeconds: 2}
		ctr.SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		}
		for i, m := range s.mounts {
			vol := fmt.Sprintf("scratch-%d", i)
			pod.Volumes = append(pod.Volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: vol, MountPath: m})
		}
		if _, err := c.Clientset.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s deployment: %v", s.name, err)
		}
		service := clusterNodePortService(s.name, s.nodePort)
		service.Spec.Ports[0].Port, service.Spec.Ports[0].TargetPort = s.port, intstr.FromString("tcp")
		if _, err := c.Clientset.CoreV1().Services(ns).Create(ctx, service, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s service: %v", s.name, err)
		}
	}
	clusterWaitAvailable(t, ctx, c.Clientset, ns, "postgres", 3*time.Minute)
	clusterWaitAvailable(t, ctx, c.Clientset, ns, "redis", 3*time.Minute)

	var lastErr error
	err = clusterPoll(ctx, time.Minute, func() bool {
		qctx, qcancel := context.WithTimeout(ctx, 3*time.Second)
		defer qcancel()
		conn, err := pgx.Connect(qctx, fmt.Sprintf("postgres://postgres:%s@127.0.0.1:30084/app?sslmode=disable", password))
		if err != nil {
			lastErr = err
			return false
		}
		defer conn.Close(qctx)
		var user string
		if lastErr = conn.QueryRow(qctx, "SELECT current_user").Scan(&user); lastErr != nil {
			return false
		}
		return user == "postgres"
	})
	if err != nil {
		t.Errorf("PostgreSQL never answered SELECT on 127.0.0.1:30084: %v (last: %v)", err, lastErr)
	}

	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:30083", Password: password, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
	defer rdb.Close()
	err = clusterPoll(ctx, time.Minute, func() bool {
		if lastErr = rdb.Set(ctx, "cluster-test", "ok", time.Minute).Err(); lastErr != nil {
			return false
		}
		v, err := rdb.Get(ctx, "cluster-test").Result()
		lastErr = err
		return err == nil && v == "ok"
	})
	if err != nil {
		t.Errorf("Redis never answered SET/GET on 127.0.0.1:30083: %v (last: %v)", err, lastErr)
	}
	// Without the password Redis must refuse.
	anon := redis.NewClient(&redis.Options{Addr: "127.0.0.1:30083", DialTimeout: 2 * time.Second})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Error("Redis answered PING without the password")
	}
}
