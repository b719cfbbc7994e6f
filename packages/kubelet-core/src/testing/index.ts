// @nodekit/kubelet-core/testing: virtual time and scenario helpers for offline tests.
export {};
