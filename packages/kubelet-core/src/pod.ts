// The parts of the Kubernetes v1 Pod API object that the kubelet's pod sync reads and writes, in
// their JSON shape. Structural types: `V1Pod` from @kubernetes/client-node and plain JSON from
// `kubectl get pod -o json` both fit (timestamps may be `Date` or RFC 3339 strings).

/** A timestamp as the API gives it: RFC 3339 string in JSON, `Date` in @kubernetes/client-node. */
export type Timestamp = Date | string;

/** `v1.ExecAction`. */
export interface ExecAction {
  command?: string[];
}

/** `v1.LifecycleHandler` (exec, httpGet and sleep run as the kubelet runs them; tcpSocket fails, as in the kubelet). */
export interface LifecycleHandler {
  exec?: ExecAction;
  sleep?: { seconds: number };
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string; host?: string };
}

/** `v1.Lifecycle`. */
export interface Lifecycle {
  postStart?: LifecycleHandler;
  preStop?: LifecycleHandler;
}

/** `v1.Probe`. */
export interface Probe {
  exec?: ExecAction;
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    httpHeaders?: { name: string; value: string }[];
  };
  tcpSocket?: { port: number | string; host?: string };
  grpc?: { port: number; service?: string };
  initialDelaySeconds?: number;
  periodSeconds?: number;
  timeoutSeconds?: number;
  successThreshold?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/** `v1.EnvVar` (literal values only are passed to the runtime). */
export interface EnvVar {
  name: string;
  value?: string;
}

/** `v1.ContainerPort`. */
export interface ContainerPort {
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  name?: string;
  protocol?: string;
}

/** `v1.Container`, as the kubelet uses it. */
export interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  command?: string[];
  args?: string[];
  workingDir?: string;
  env?: EnvVar[];
  ports?: ContainerPort[];
  lifecycle?: Lifecycle;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  /** Only `Always` (on an init container: a sidecar) is meaningful, as in the API. */
  restartPolicy?: string;
  terminationMessagePath?: string;
  terminationMessagePolicy?: string;
  tty?: boolean;
  stdin?: boolean;
}

/** `v1.EphemeralContainer`. */
export interface EphemeralContainer extends Container {
  targetContainerName?: string;
}

/** `v1.PodReadinessGate`. */
export interface PodReadinessGate {
  conditionType: string;
}

/** `v1.PodSpec`, as the kubelet uses it. */
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  ephemeralContainers?: EphemeralContainer[];
  restartPolicy?: string;
  terminationGracePeriodSeconds?: number;
  activeDeadlineSeconds?: number;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  hostname?: string;
  subdomain?: string;
  nodeName?: string;
  readinessGates?: PodReadinessGate[];
  dnsPolicy?: string;
}

/** `v1.ObjectMeta`, as the kubelet uses it. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  labels?: { [key: string]: string };
  annotations?: { [key: string]: string };
  deletionTimestamp?: Timestamp;
  deletionGracePeriodSeconds?: number;
  creationTimestamp?: Timestamp;
}

/** `v1.ContainerStateWaiting`. */
export interface ContainerStateWaiting {
  reason?: string;
  message?: string;
}

/** `v1.ContainerStateRunning`. */
export interface ContainerStateRunning {
  startedAt?: Timestamp;
}

/** `v1.ContainerStateTerminated`. */
export interface ContainerStateTerminated {
  exitCode: number;
  signal?: number;
  reason?: string;
  message?: string;
  startedAt?: Timestamp;
  finishedAt?: Timestamp;
  containerID?: string;
}

/** `v1.ContainerState`: one of the three is set. */
export interface ContainerState {
  waiting?: ContainerStateWaiting;
  running?: ContainerStateRunning;
  terminated?: ContainerStateTerminated;
}

/** `v1.ContainerStatus`. */
export interface ContainerStatus {
  name: string;
  state?: ContainerState;
  lastState?: ContainerState;
  ready: boolean;
  restartCount: number;
  image: string;
  imageID: string;
  containerID?: string;
  started?: boolean;
}

/** `v1.PodCondition`. */
export interface PodCondition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastProbeTime?: Timestamp | null;
  lastTransitionTime?: Timestamp;
  observedGeneration?: number;
}

/** `v1.PodIP`. */
export interface PodIP {
  ip: string;
}

/** `v1.PodStatus`. */
export interface PodStatus {
  phase?: string;
  conditions?: PodCondition[];
  message?: string;
  reason?: string;
  hostIP?: string;
  hostIPs?: PodIP[];
  podIP?: string;
  podIPs?: PodIP[];
  startTime?: Timestamp;
  initContainerStatuses?: ContainerStatus[];
  containerStatuses?: ContainerStatus[];
  ephemeralContainerStatuses?: ContainerStatus[];
}

/** `v1.Pod`: what the reconciler is given and what status it computes. */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: PodSpec;
  status?: PodStatus;
}
