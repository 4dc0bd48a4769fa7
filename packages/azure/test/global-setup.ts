import { azuriteGlobalSetup, type AzureConnection } from "@range/test-servers";

export const CONTAINERS = ["range-conformance", "range-azure-test"] as const;

declare module "vitest" {
  export interface ProvidedContext {
    azure: AzureConnection;
  }
}

export default azuriteGlobalSetup({ containers: [...CONTAINERS] });
