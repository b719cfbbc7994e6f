// @nodekit/proxy-rules: kube-proxy's rules as a pure function.
export {};
