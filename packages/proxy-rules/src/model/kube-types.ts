// The subset of the Kubernetes API objects kube-proxy reads, in their JSON shape (what
// `kubectl get -o json` prints and what @kubernetes/client-node's V1Service / V1EndpointSlice
// hold). Enumerations are typed as `string`, as in the API's JSON, so that any client's objects
// can be passed as they are; the values are checked when the input is validated.

/** `metadata` of a Kubernetes object (the fields kube-proxy reads). */
export interface ObjectMeta {
  readonly name?: string | undefined;
  readonly namespace?: string | undefined;
  readonly labels?: { readonly [key: string]: string } | undefined;
  readonly annotations?: { readonly [key: string]: string } | undefined;
}

/** A v1 `ServicePort`. */
export interface ServicePort {
  readonly name?: string | undefined;
  /** `TCP` (default), `UDP` or `SCTP`. */
  readonly protocol?: string | undefined;
  readonly port: number;
  readonly nodePort?: number | undefined;
}

/** A v1 `LoadBalancerIngress`. */
export interface LoadBalancerIngress {
  readonly ip?: string | undefined;
  readonly hostname?: string | undefined;
  /** `VIP` (default) or `Proxy`. */
  readonly ipMode?: string | undefined;
}

/** A v1 `Service` (the fields kube-proxy reads). */
export interface Service {
  readonly apiVersion?: string | undefined;
  readonly kind?: string | undefined;
  readonly metadata?: ObjectMeta | undefined;
  readonly spec?:
    | {
        /** `ClusterIP` (default), `NodePort`, `LoadBalancer` or `ExternalName`. */
        readonly type?: string | undefined;
        readonly clusterIP?: string | undefined;
        readonly clusterIPs?: readonly string[] | undefined;
        /** `IPv4` / `IPv6`, in the order of `clusterIPs`. */
        readonly ipFamilies?: readonly string[] | undefined;
        readonly ports?: readonly ServicePort[] | undefined;
        readonly externalIPs?: readonly string[] | undefined;
        readonly loadBalancerSourceRanges?: readonly string[] | undefined;
        /** `Cluster` (default) or `Local`. */
        readonly externalTrafficPolicy?: string | undefined;
        /** `Cluster` (default) or `Local`. */
        readonly internalTrafficPolicy?: string | undefined;
        readonly healthCheckNodePort?: number | undefined;
        /** `None` (default) or `ClientIP`. */
        readonly sessionAffinity?: string | undefined;
        readonly sessionAffinityConfig?:
          | { readonly clientIP?: { readonly timeoutSeconds?: number | undefined } | undefined }
          | undefined;
        readonly selector?: { readonly [key: string]: string } | undefined;
        readonly trafficDistribution?: string | undefined;
        readonly externalName?: string | undefined;
      }
    | undefined;
  readonly status?:
    | { readonly loadBalancer?: { readonly ingress?: readonly LoadBalancerIngress[] | undefined } | undefined }
    | undefined;
}

/** A discovery.k8s.io/v1 `Endpoint`. */
export interface Endpoint {
  readonly addresses: readonly string[];
  readonly conditions?:
    | {
        readonly ready?: boolean | undefined;
        readonly serving?: boolean | undefined;
        readonly terminating?: boolean | undefined;
      }
    | undefined;
  readonly nodeName?: string | undefined;
  readonly zone?: string | undefined;
  readonly hints?:
    | {
        readonly forZones?: readonly { readonly name: string }[] | undefined;
        readonly forNodes?: readonly { readonly name: string }[] | undefined;
      }
    | undefined;
}

/** A discovery.k8s.io/v1 `EndpointPort`. */
export interface EndpointPort {
  readonly name?: string | undefined;
  /** `TCP` (default), `UDP` or `SCTP`. */
  readonly protocol?: string | undefined;
  readonly port?: number | undefined;
}

/** A discovery.k8s.io/v1 `EndpointSlice` (the fields kube-proxy reads). */
export interface EndpointSlice {
  readonly apiVersion?: string | undefined;
  readonly kind?: string | undefined;
  readonly metadata?: ObjectMeta | undefined;
  /** `IPv4`, `IPv6` or `FQDN` (ignored by kube-proxy). */
  readonly addressType: string;
  /**
   * Absent or `null` in the JSON of a slice without endpoints (client-node 1.x types it as
   * required, 2.x as optional: both assign).
   */
  readonly endpoints?: readonly Endpoint[] | null | undefined;
  readonly ports?: readonly EndpointPort[] | undefined;
}
