package podnet

import "fmt"

// Manifest is kind's /kind/manifests/default-cni.yaml for the agent running from image. The
// marker comment makes kind add CONTROL_PLANE_ENDPOINT to the first container's env, so the
// agent reaches the API server before kube-proxy routes the kubernetes Service.
func Manifest(image string) string {
	return fmt.Sprintf(`# would you kindly patch this file
apiVersion: v1
kind: ServiceAccount
metadata:
  name: podnet
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: podnet
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podnet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: podnet
subjects:
- kind: ServiceAccount
  name: podnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: podnet
  namespace: kube-system
  labels:
    app: podnet
spec:
  selector:
    matchLabels:
      app: podnet
  template:
    metadata:
      labels:
        app: podnet
    spec:
      hostNetwork: true
      serviceAccountName: podnet
      priorityClassName: system-node-critical
      tolerations:
      - operator: Exists
      containers:
      - name: podnet
        image: %s
        imagePullPolicy: Never
        args: ["-cni-conf-dir=/etc/cni/net.d"]
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        securityContext:
          capabilities:
            add: ["NET_ADMIN"]
        resources:
          requests:
            cpu: 10m
            memory: 20Mi
          limits:
            memory: 64Mi
        volumeMounts:
        - name: cni-conf
          mountPath: /etc/cni/net.d
      volumes:
      - name: cni-conf
        hostPath:
          path: /etc/cni/net.d
          type: DirectoryOrCreate
`, image)
}
