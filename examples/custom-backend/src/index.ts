export { createHttpStore, httpBackend, httpsBackend, type HttpStoreOptions } from "./http-store.js";
