/**
 * The labels and annotations the kubelet writes on sandboxes and containers
 * (pkg/kubelet/kuberuntime/labels.go, pkg/kubelet/types/labels.go). nodekit writes the same, so
 * crictl shows nodekit pods as kubelet pods and a restarted reconciler finds its state again.
 */
export const labels = {
  /** Pod name; a label on sandboxes and containers. */
  podName: "io.kubernetes.pod.name",
  /** Pod namespace; a label on sandboxes and containers. */
  podNamespace: "io.kubernetes.pod.namespace",
  /** Pod uid; a label on sandboxes and containers (the reconciler groups runtime objects by it). */
  podUid: "io.kubernetes.pod.uid",
  /** Container name in the pod spec; a label on containers. */
  containerName: "io.kubernetes.container.name",
  /** `init`, `container` or `ephemeral`; an annotation on containers. */
  containerType: "io.kubernetes.container.type",
  /** {@link hashContainer} of the spec the container was made from; an annotation on containers. */
  containerHash: "io.kubernetes.container.hash",
  /** How many times the container was restarted; an annotation on containers. */
  containerRestartCount: "io.kubernetes.container.restartCount",
  /** The container's `terminationMessagePath`; an annotation on containers. */
  containerTerminationMessagePath: "io.kubernetes.container.terminationMessagePath",
  /** The container's `terminationMessagePolicy`; an annotation on containers. */
  containerTerminationMessagePolicy: "io.kubernetes.container.terminationMessagePolicy",
  /** The pod's `metadata.deletionGracePeriodSeconds`, when set; an annotation on containers. */
  podDeletionGracePeriod: "io.kubernetes.pod.deletionGracePeriod",
  /** The pod's `spec.terminationGracePeriodSeconds`, when set; an annotation on containers. */
  podTerminationGracePeriod: "io.kubernetes.pod.terminationGracePeriod",
  /** The container's preStop handler as JSON, when it has one; an annotation on containers. */
  containerPreStopHandler: "io.kubernetes.container.preStopHandler",
  /** The container's ports as JSON, when it has any; an annotation on containers. */
  containerPorts: "io.kubernetes.container.ports",
} as const;
