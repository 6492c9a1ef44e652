package debimage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Image is a built image and its docker-save tarball (for kind's image load).
type Image struct {
	Ref     string
	Tarball string
}

// serviceImage is a Debian-based image defined by its Dockerfile and the files beside it.
type serviceImage struct {
	repository string
	dockerfile string // %s is the base image
	files      map[string]string
	binaries   []Binary // copied into the build context; their digests are hashed
}

// UID and GID the service images run as (non-root, numeric so runAsNonRoot can check it).
const ServiceUID = 999

var postgresImage = serviceImage{
	repository: "ai-assistant-postgres",
	dockerfile: `FROM %s
# The user exists before the package so it gets a fixed, numeric, non-root UID.
RUN groupadd --system --gid 999 postgres \
 && useradd --system --uid 999 --gid 999 --home-dir /var/lib/postgresql --shell /bin/sh postgres \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/15/main /etc/postgresql/15/main \
 && mkdir -p /var/lib/postgresql/data && chown -R 999:999 /var/lib/postgresql
COPY entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN chmod 0755 /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data/pgdata
USER 999:999
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
`,
	files: map[string]string{"entrypoint.sh": `#!/bin/sh
# First start: initdb with POSTGRES_USER / POSTGRES_PASSWORD (required) / POSTGRES_DB, password
# auth for every TCP client. PGDATA is a subdirectory so a mounted volume's root (owned by
# root or an fsGroup) can hold it.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=${POSTGRES_USER}}"
if [ ! -s "${PGDATA}/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres-entrypoint: POSTGRES_PASSWORD must be set for the first start" >&2
    exit 1
  fi
  mkdir -p "${PGDATA}" && chmod 0700 "${PGDATA}"
  pwfile="$(mktemp)"
  printf '%s' "${POSTGRES_PASSWORD}" > "${pwfile}"
  initdb --username="${POSTGRES_USER}" --pwfile="${pwfile}" --auth-local=trust --auth-host=scram-sha-256 -D "${PGDATA}" >/dev/null
  rm -f "${pwfile}"
  echo "host all all all scram-sha-256" >> "${PGDATA}/pg_hba.conf"
  if [ "${POSTGRES_DB}" != postgres ]; then
    echo "CREATE DATABASE \"${POSTGRES_DB}\";" | postgres --single -j -D "${PGDATA}" postgres >/dev/null
  fi
fi
exec postgres -D "${PGDATA}" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
`},
}

var redisImage = serviceImage{
	repository: "ai-assistant-redis",
	dockerfile: `FROM %s
RUN groupadd --system --gid 999 redis \
 && useradd --system --uid 999 --gid 999 --home-dir /data --shell /usr/sbin/nologin redis \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown 999:999 /data
COPY entrypoint.sh /usr/local/bin/redis-entrypoint
RUN chmod 0755 /usr/local/bin/redis-entrypoint
USER 999:999
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint"]
`,
	files: map[string]string{"entrypoint.sh": `#!/bin/sh
# redis-server on every address (the pod's network is the boundary), no snapshots, and a
# password when REDIS_PASSWORD is set; extra arguments pass through.
set -eu
if [ -n "${REDIS_PASSWORD:-}" ]; then
  set -- --requirepass "${REDIS_PASSWORD}" "$@"
fi
exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data --save "" --appendonly no "$@"
`},
}

// EnsurePostgres builds (when missing) the PostgreSQL 15 image on base, runnable as UID 999,
// and writes its tarball into outDir.
func EnsurePostgres(ctx context.Context, steps *Steps, base, outDir string) (Image, error) {
	return ensureService(ctx, steps, postgresImage, base, outDir)
}

// EnsureRedis builds (when missing) the Redis image on base, runnable as UID 999, and writes
// its tarball into outDir.
func EnsureRedis(ctx context.Context, steps *Steps, base, outDir string) (Image, error) {
	return ensureService(ctx, steps, redisImage, base, outDir)
}

func ensureService(ctx context.Context, steps *Steps, s serviceImage, base, outDir string) (Image, error) {
	values := map[string]string{"base": base, "dockerfile": s.dockerfile}
	for n, c := range s.files {
		values["file "+n] = c
	}
	for _, b := range s.binaries {
		values["binary "+b.Name] = b.Digest
	}
	h, err := Inputs{Values: values}.Hash(12)
	if err != nil {
		return Image{}, err
	}
	img := Image{
		Ref:     s.repository + ":" + h,
		Tarball: filepath.Join(outDir, s.repository+"-"+h+".tar"),
	}
	_, statErr := os.Stat(img.Tarball)
	if statErr == nil && ImageExists(ctx, img.Ref) {
		steps.Logf("%s and its tarball exist: skipping", img.Ref)
		return img, nil
	}
	err = steps.Run(ctx, s.repository, func(ctx context.Context, st *Step) error {
		if !ImageExists(ctx, img.Ref) {
			dir, err := os.MkdirTemp("", s.repository+"-")
			if err != nil {
				return fmt.Errorf("create build context: %w", err)
			}
			defer os.RemoveAll(dir)
			files := map[string]string{"Dockerfile": fmt.Sprintf(s.dockerfile, base)}
			for n, c := range s.files {
				files[n] = c
			}
			for n, c := range files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644); err != nil {
					return err
				}
			}
			for _, b := range s.binaries {
				if err := writeBinary(dir, b); err != nil {
					return err
				}
			}
			if err := st.Build(ctx, dir, img.Ref); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", outDir, err)
		}
		// Write beside, then rename: a reader never sees half a tarball.
		tmp := img.Tarball + ".partial"
		if err := st.Cmd(ctx, nil, "", nil, "docker", "save", "-o", tmp, img.Ref); err != nil {
			return err
		}
		return os.Rename(tmp, img.Tarball)
	})
	if err != nil {
		return Image{}, err
	}
	return img, nil
}

// String prints the image as "ref tarball".
func (i Image) String() string { return strings.Join([]string{i.Ref, i.Tarball}, " ") }

// EnsureServiceImages builds (when missing) the Debian base, then the PostgreSQL and Redis
// images, keeping step logs in cacheDir/logs and tarballs in imagesDir.
func EnsureServiceImages(ctx context.Context, cacheDir, imagesDir string, logf Logf) (postgres, redis Image, err error) {
	steps := NewSteps(logf, filepath.Join(cacheDir, "logs"))
	base, err := EnsureBase(ctx, steps, BaseOptions{WorkDir: filepath.Join(cacheDir, "tmp")})
	if err != nil {
		return Image{}, Image{}, err
	}
	if postgres, err = EnsurePostgres(ctx, steps, base, imagesDir); err != nil {
		return Image{}, Image{}, err
	}
	if redis, err = EnsureRedis(ctx, steps, base, imagesDir); err != nil {
		return Image{}, Image{}, err
	}
	return postgres, redis, nil
}
