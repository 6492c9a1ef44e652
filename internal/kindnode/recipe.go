package kindnode

import (
	"fmt"
	"strings"
)

// NodePackages are the Debian packages of the node's OS: what kind's base image installs,
// with Debian's containerd, runc and CNI plugins in place of the ones kind builds itself.
var NodePackages = []string{
	"systemd", "containerd", "runc", "containernetworking-plugins",
	"iptables", "nftables", "conntrack", "iproute2", "ethtool", "socat", "ebtables",
	"kmod", "util-linux", "mount", "e2fsprogs", "pigz", "libseccomp2",
	"ca-certificates", "jq", "procps", "bash",
}

// nodeBaseDockerfile installs the node's OS on the Debian base, then adds kind's node files
// (copied into the build context as files/). containerd is installed before kind's
// /etc/containerd/config.toml is placed, or dpkg stops at a conffile prompt.
func nodeBaseDockerfile(base string) string {
	return fmt.Sprintf(`FROM %s
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s \
 && rm -rf /var/lib/apt/lists/*
COPY files/ /
# What kind's base image does after its packages: no units but its own, systemd as init.
RUN ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && mkdir -p /opt/cni/bin && cp -a /usr/lib/cni/* /opt/cni/bin/ \
 && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* \
 && rm -f /etc/systemd/system/*.wants/* \
 && rm -f /lib/systemd/system/local-fs.target.wants/* \
 && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
 && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
 && rm -f /lib/systemd/system/basic.target.wants/* \
 && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
 && ln -sf /usr/lib/systemd/systemd /sbin/init \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \
 && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests \
 && ctr oci spec \
    | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
`, base, strings.Join(NodePackages, " "))
}

// scratchDockerfile is a control-plane image holding one static binary.
func scratchDockerfile(binary string, entrypoint bool) string {
	s := fmt.Sprintf("FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCOPY %s /usr/local/bin/%s\n", binary, binary)
	if entrypoint {
		s += fmt.Sprintf("ENTRYPOINT [\"/usr/local/bin/%s\"]\n", binary)
	}
	return s
}

// kubeProxyDockerfile: kube-proxy needs iptables userspace, so it is built on the Debian base.
func kubeProxyDockerfile(base string) string {
	return fmt.Sprintf(`FROM %s
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables conntrack ipset kmod \
 && rm -rf /var/lib/apt/lists/*
COPY kube-proxy /usr/local/bin/kube-proxy.bin
COPY kube-proxy-wrapper /usr/local/bin/kube-proxy
RUN chmod 0755 /usr/local/bin/kube-proxy /usr/local/bin/kube-proxy.bin
`, base)
}

// kubeProxyWrapper picks the iptables backend the node already uses (the one holding more
// rules), as kubernetes-sigs/iptables-wrappers does, then runs kube-proxy with the given flags.
const kubeProxyWrapper = `#!/bin/sh
set -e
count() { ( "$1-save" 2>/dev/null || true; "ip6$1-save" 2>/dev/null || true ) | grep -c '^-' || true; }
legacy=$(count iptables-legacy)
nft=$(count iptables-nft)
mode=nft
if [ "${legacy:-0}" -gt "${nft:-0}" ]; then mode=legacy; fi
update-alternatives --set iptables "/usr/sbin/iptables-${mode}" >/dev/null
update-alternatives --set ip6tables "/usr/sbin/ip6tables-${mode}" >/dev/null
exec /usr/local/bin/kube-proxy.bin "$@"
`
