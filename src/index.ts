export {
  Device,
  createDevice,
  type DeviceStats,
  type DeviceState,
  type SideStats,
  type WorkerStats,
  type QueueStats,
  type DeviceHooks,
} from './device/device.js';
export { Server, createServer, seedHandler, type ServerStats } from './server/server.js';
export { ServerGroup } from './server/group.js';
export { Client, createClient, type RequestBody, type RequestOptions, type ClientStats } from './client.js';
export { ZqueueError, ErrorCode, isZqueueError } from './errors.js';
export { parseEndpoint, connectUrlFor, resolveBackend, type Endpoint, type Transport } from './endpoints.js';
export {
  resolveDeviceOptions,
  resolveServerOptions,
  resolveClientOptions,
  deviceDefaults,
  serverDefaults,
  clientDefaults,
  deviceOptions,
  serverOptions,
  clientOptions,
  brokerOptions,
  type OptionSpec,
  type DeviceOptions,
  type ServerOptions,
  type ClientOptions,
  type Engine,
  type Policy,
  type Handler,
  type RequestContext,
  type CloseOptions,
} from './options.js';
export { OVERLOAD_POLICIES, type OverloadPolicy, type ShedReason } from './device/scheduling/overload.js';
export type { ShedCounts } from './device/counters.js';
export { ERROR_PREFIX, ErrorKind, errorFrame, parseErrorReply, type Reply, type WireError } from './protocol.js';
export { Broker, createBroker, brokerDefaults, resolveBrokerOptions, type BrokerOptions, type BrokerStats } from './serve/broker.js';
export type { SlotStats } from './serve/pool.js';
