export {
  startFaultProxy,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
  type ProxiedRequest,
  type RequestFilter,
} from "./proxy.js";
export { FAULT_KINDS, s3ErrorBody, seededRandom, type Fault, type FaultKind, type FaultRule } from "./rules.js";
