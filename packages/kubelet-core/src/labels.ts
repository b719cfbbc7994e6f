/**
 * The labels and annotations the kubelet writes on sandboxes and containers
 * (pkg/kubelet/kuberuntime/labels.go, pkg/kubelet/types/labels.go). nodekit writes the same, so
 * crictl shows nodekit pods as kubelet pods and a restarted reconciler finds its state again.
 */
export const labels = {
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  podUid: "io.kubernetes.pod.uid",
  containerName: "io.kubernetes.container.name",
  containerType: "io.kubernetes.container.type",
  containerHash: "io.kubernetes.container.hash",
  containerRestartCount: "io.kubernetes.container.restartCount",
  containerTerminationMessagePath: "io.kubernetes.container.terminationMessagePath",
  containerTerminationMessagePolicy: "io.kubernetes.container.terminationMessagePolicy",
  podDeletionGracePeriod: "io.kubernetes.pod.deletionGracePeriod",
  podTerminationGracePeriod: "io.kubernetes.pod.terminationGracePeriod",
  containerPreStopHandler: "io.kubernetes.container.preStopHandler",
  containerPorts: "io.kubernetes.container.ports",
} as const;
