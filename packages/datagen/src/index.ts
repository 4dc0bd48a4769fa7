export { DEFAULT_BLOCK_SIZE, DEFAULT_CHUNK_SIZE, SyntheticDataset, generateData, generateStream, type SyntheticDataOptions } from "./dataset.js";
export { analyzeData, type AnalyzeOptions, type DataAnalysis } from "./analyze.js";
export { defaultObjectKey, fillStore, type FillStoreOptions, type FillStoreResult } from "./fill-store.js";
