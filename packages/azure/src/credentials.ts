import { RangeConfigError } from "@range/core";

/** A token credential (e.g. `DefaultAzureCredential` from `@azure/identity`), structurally, so we need no import. */
export interface AzureTokenCredential {
  getToken(scopes: string | string[], options?: unknown): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

/** How requests are authorized. */
export type AzureAuth =
  | { kind: "sharedKey"; account: string; accountKey: string }
  | { kind: "sas"; sasToken: string }
  | { kind: "token"; credential: AzureTokenCredential }
  | { kind: "anonymous" };

/** The blob service and how to authorize against it, resolved from options or the environment. */
export interface AzureConnectionSettings {
  /** Blob service URL without a query, e.g. `https://acct.blob.core.windows.net` or `http://127.0.0.1:10000/acct`. */
  serviceUrl: string;
  /** The storage account, when known (from the settings or the service URL). */
  account: string | undefined;
  auth: AzureAuth;
  /** Where these came from, for messages: "options", "the connectionString option", "AZURE_STORAGE_CONNECTION_STRING", ... */
  source: string;
}

/** What {@link resolveAzureConnection} reads from the options. */
export interface AzureConnectionOptions {
  connectionString?: string;
  account?: string;
  accountKey?: string;
  sasToken?: string;
  credential?: AzureTokenCredential;
  endpoint?: string;
  serviceUrl?: string;
}

/** Azurite's documented well-known development account (`UseDevelopmentStorage=true`); public, not a secret. */
const DEV_ACCOUNT = "devstoreaccount1";
const DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEV_ENDPOINT = "http://127.0.0.1:10000/devstoreaccount1";

function configError(message: string, code = "E_INVALID_OPTION"): RangeConfigError {
  return new RangeConfigError(`az: ${message}`, { code });
}

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function checkAccount(account: string, from: string): string {
  if (!/^[a-z0-9]{3,24}$/.test(account)) throw configError(`${from}: an account name is 3-24 lowercase letters and digits`);
  return account;
}

/** A base64 key; the message never shows it. */
function checkAccountKey(key: string, from: string): string {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, "base64").length === 0) {
    throw configError(`${from}: the account key must be base64 (as shown in the portal)`);
  }
  return key;
}

/** A SAS token without its leading "?"; the message never shows it. */
function checkSasToken(sas: string, from: string): string {
  const token = sas.replace(/^\?/, "");
  if (!/(^|&)sig=[^&]+/.test(token)) throw configError(`${from}: a SAS token is a query string with a sig= parameter (e.g. "sv=...&sp=r&sig=...")`);
  return token;
}

/** The account an endpoint names: `<account>.blob.<suffix>`, or the first path segment (emulator, path style). */
function accountFromUrl(url: URL): string | undefined {
  const host = /^([a-z0-9]{3,24})\.blob\./.exec(url.hostname);
  if (host) return host[1];
  const segment = url.pathname.split("/").find((s) => s !== "");
  return segment !== undefined && /^[a-z0-9]{3,24}$/.test(segment) ? segment : undefined;
}

/** Splits an endpoint into the service URL and a SAS token carried in its query. */
function parseEndpoint(endpoint: string, from: string): { serviceUrl: string; sasToken: string | undefined; url: URL } {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw configError(`${from} is not a URL (expected e.g. https://account.blob.core.windows.net or http://127.0.0.1:10000/account)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw configError(`${from} must be http(s), got ${url.protocol}`);
  if (url.username !== "" || url.password !== "") throw configError(`${from} must not carry user info`);
  const sasToken = url.search.length > 1 ? checkSasToken(url.search, `the query of ${from}`) : undefined;
  url.search = "";
  url.hash = "";
  return { serviceUrl: url.href.replace(/\/+$/, ""), sasToken, url };
}

/**
 * Parses a storage connection string (`AccountName=...;AccountKey=...;EndpointSuffix=...`, `BlobEndpoint=...;
 * SharedAccessSignature=...`, `UseDevelopmentStorage=true`). Names are case-insensitive; unknown ones (other
 * services' endpoints) are ignored. Errors name the field, never a value.
 */
export function parseConnectionString(connectionString: string, source: string): AzureConnectionSettings {
  const fields = new Map<string, string>();
  for (const [i, segment] of connectionString.split(";").entries()) {
    if (segment.trim() === "") continue;
    const eq = segment.indexOf("=");
    if (eq <= 0) throw configError(`${source} is not a connection string: part ${i + 1} is not Name=Value`);
    fields.set(segment.slice(0, eq).trim().toLowerCase(), segment.slice(eq + 1).trim());
  }
  if (fields.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    if (fields.has("developmentstorageproxyuri")) throw configError(`${source}: DevelopmentStorageProxyUri is not supported`);
    return { serviceUrl: DEV_ENDPOINT, account: DEV_ACCOUNT, auth: { kind: "sharedKey", account: DEV_ACCOUNT, accountKey: DEV_KEY }, source };
  }
  const accountName = fields.get("accountname");
  const account = accountName !== undefined ? checkAccount(accountName, `AccountName in ${source}`) : undefined;
  let serviceUrl: string;
  let endpointSas: string | undefined;
  let endpointAccount: string | undefined;
  const blobEndpoint = fields.get("blobendpoint");
  if (blobEndpoint !== undefined) {
    const parsed = parseEndpoint(blobEndpoint, `BlobEndpoint in ${source}`);
    serviceUrl = parsed.serviceUrl;
    endpointSas = parsed.sasToken;
    endpointAccount = accountFromUrl(parsed.url);
  } else {
    if (account === undefined) throw configError(`${source} names neither AccountName nor BlobEndpoint`);
    const protocol = (fields.get("defaultendpointsprotocol") ?? "https").toLowerCase();
    if (protocol !== "https" && protocol !== "http") throw configError(`${source}: DefaultEndpointsProtocol must be https or http`);
    serviceUrl = `${protocol}://${account}.blob.${fields.get("endpointsuffix") ?? "core.windows.net"}`;
  }
  const accountKey = fields.get("accountkey");
  const sas = fields.get("sharedaccesssignature");
  if (accountKey !== undefined && sas !== undefined) throw configError(`${source} has both AccountKey and SharedAccessSignature`);
  let auth: AzureAuth;
  if (accountKey !== undefined) {
    const keyAccount = account ?? endpointAccount;
    if (keyAccount === undefined) throw configError(`${source}: AccountKey needs AccountName`);
    auth = { kind: "sharedKey", account: keyAccount, accountKey: checkAccountKey(accountKey, `AccountKey in ${source}`) };
  } else if (sas !== undefined || endpointSas !== undefined) {
    auth = { kind: "sas", sasToken: sas !== undefined ? checkSasToken(sas, `SharedAccessSignature in ${source}`) : endpointSas! };
  } else {
    auth = { kind: "anonymous" };
  }
  return { serviceUrl, account: account ?? endpointAccount, auth, source };
}

/**
 * Where the blob service is and how to authorize, in this order: the `connectionString` option; the `account`,
 * `accountKey`, `sasToken`, `credential` and `endpoint` options; `AZURE_STORAGE_CONNECTION_STRING`;
 * `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN`. An account or endpoint without a key,
 * SAS or credential is anonymous access (public containers). Throws {@link RangeConfigError} when nothing is set or
 * settings conflict; messages never contain a key or token.
 */
export function resolveAzureConnection(options: AzureConnectionOptions): AzureConnectionSettings {
  const { connectionString, account, accountKey, sasToken, credential } = options;
  if (options.endpoint !== undefined && options.serviceUrl !== undefined && options.endpoint !== options.serviceUrl) {
    throw configError("endpoint and serviceUrl are the same setting: pass one");
  }
  const endpoint = options.endpoint ?? options.serviceUrl;
  for (const [name, value] of Object.entries({ connectionString, account, accountKey, sasToken, endpoint })) {
    if (value !== undefined && (typeof value !== "string" || value.trim() === "")) throw configError(`${name} must be a non-empty string`);
  }
  if (credential !== undefined && (typeof credential !== "object" || credential === null || typeof credential.getToken !== "function")) {
    throw configError("credential must be a TokenCredential (an object with getToken), e.g. new DefaultAzureCredential()");
  }
  const explicit = account !== undefined || accountKey !== undefined || sasToken !== undefined || credential !== undefined || endpoint !== undefined;
  if (connectionString !== undefined) {
    if (explicit) throw configError("connectionString already names the account and its credentials: pass it alone, or account/accountKey/sasToken/endpoint without it");
    return parseConnectionString(connectionString, "the connectionString option");
  }
  if (explicit) return fromParts({ account, accountKey, sasToken, credential, endpoint }, "options");
  const fromEnv = envValue("AZURE_STORAGE_CONNECTION_STRING");
  if (fromEnv !== undefined) return parseConnectionString(fromEnv, "AZURE_STORAGE_CONNECTION_STRING");
  const envAccount = envValue("AZURE_STORAGE_ACCOUNT");
  if (envAccount !== undefined) {
    return fromParts({ account: envAccount, accountKey: envValue("AZURE_STORAGE_KEY"), sasToken: envValue("AZURE_STORAGE_SAS_TOKEN") }, "AZURE_STORAGE_ACCOUNT");
  }
  throw configError(
    "no Azure Storage account configured: pass connectionString, or account with accountKey / sasToken / credential (and endpoint for " +
      "an emulator), or set AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN)",
    "E_NO_CREDENTIALS",
  );
}

function fromParts(parts: Omit<AzureConnectionOptions, "connectionString" | "serviceUrl">, source: string): AzureConnectionSettings {
  const given = [parts.accountKey, parts.sasToken, parts.credential].filter((v) => v !== undefined).length;
  if (given > 1) throw configError(`${source}: pass one of accountKey, sasToken and credential`);
  let account = parts.account !== undefined ? checkAccount(parts.account, `account in ${source}`) : undefined;
  let serviceUrl: string;
  let endpointSas: string | undefined;
  if (parts.endpoint !== undefined) {
    const parsed = parseEndpoint(parts.endpoint, `endpoint in ${source}`);
    serviceUrl = parsed.serviceUrl;
    endpointSas = parsed.sasToken;
    account ??= accountFromUrl(parsed.url);
  } else {
    if (account === undefined) throw configError(`${source}: pass account (or endpoint) with the ${parts.accountKey ? "accountKey" : parts.sasToken ? "sasToken" : "credential"}`);
    serviceUrl = `https://${account}.blob.core.windows.net`;
  }
  let auth: AzureAuth;
  if (parts.accountKey !== undefined) {
    if (account === undefined) throw configError(`${source}: accountKey needs account (the endpoint does not name one)`);
    auth = { kind: "sharedKey", account, accountKey: checkAccountKey(parts.accountKey, `accountKey in ${source}`) };
  } else if (parts.sasToken !== undefined) {
    if (endpointSas !== undefined) throw configError(`${source}: the endpoint already carries a SAS token; do not also pass sasToken`);
    auth = { kind: "sas", sasToken: checkSasToken(parts.sasToken, `sasToken in ${source}`) };
  } else if (parts.credential !== undefined) {
    auth = { kind: "token", credential: parts.credential };
  } else if (endpointSas !== undefined) {
    auth = { kind: "sas", sasToken: endpointSas };
  } else {
    auth = { kind: "anonymous" };
  }
  return { serviceUrl, account, auth, source };
}
