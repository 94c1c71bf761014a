// What other modules may use of the idempotency module (docs/architecture.md): the service's type,
// which the composition root hands them, and what it stores.
export type { IdempotencyService, StoredResponse } from "./idempotency.service";
