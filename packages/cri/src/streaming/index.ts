// @nodekit/cri streaming: the URLs that Exec, Attach and PortForward return, as Node streams
// (client), and the streaming server a shim embeds to hand such URLs out (server kit).

export type {
  PortForwardListener,
  PortForwardListenerOptions,
  PortForwardOptions,
  PortForwardSession,
  RemoteCommandResult,
  RemoteCommandSession,
  StreamConnectOptions,
} from "./client.js";
export {
  createPortForwardListener,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_PORT_FORWARD_PROTOCOLS,
  DEFAULT_REMOTE_COMMAND_PROTOCOLS,
  openAttach,
  openExec,
  openPortForward,
} from "./client.js";
export type { StreamStatus, TerminalSize } from "./protocol.js";
export {
  BASE64_CHANNEL_PROTOCOL_V1,
  BASE64_CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V1,
  CHANNEL_PROTOCOL_V4,
  CHANNEL_PROTOCOL_V5,
  RemoteCommandChannel,
  STREAM_CLOSE_SIGNAL,
} from "./protocol.js";
export type {
  RemoteCommandStreams,
  StreamingAttachHandler,
  StreamingExecHandler,
  StreamingPortForwardHandler,
  StreamingServer,
  StreamingServerOptions,
} from "./server.js";
export {
  createStreamingServer,
  DEFAULT_SERVER_REMOTE_COMMAND_PROTOCOLS,
  DEFAULT_STREAM_MAX_IN_FLIGHT,
  DEFAULT_STREAM_TOKEN_TTL_MS,
  SERVER_PORT_FORWARD_PROTOCOLS,
} from "./server.js";
