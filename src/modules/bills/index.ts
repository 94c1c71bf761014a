// What other modules may use of the bills module (docs/architecture.md): its shared schemas, and
// the types of its repository and service, which the composition root hands them.
export { billDetailsSchema, billIdParams, participantSummary } from "./bills.schemas";
export type { BillsRepository } from "./bills.repository";
export type { BillsService } from "./bills.service";
