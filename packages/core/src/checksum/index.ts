export {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  createChecksum,
  isChecksumAlgorithm,
  verifyChecksum,
  type Checksum,
  type ChecksumAlgorithm,
} from "./checksum.js";
export { crc32, crc32c, crcFromBase64, crcImplementation, crcToBase64, type CrcFunction, type CrcImplementation } from "./crc.js";
export { IncrementalVerifier, OrderedVerifier, verifyWholeObject, type ExpectedChecksum, type WholeObjectChecksum } from "./whole-object.js";
