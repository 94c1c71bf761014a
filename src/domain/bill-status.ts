// The bill's life: created -> active (payment requests sent) -> completed (everyone paid);
// created or active -> cancelled. Anything else is refused with 409 and changes nothing.
import { Conflict } from "./errors";

/** Every status a bill can have: the one definition (the schemas and the ledger take it from here). */
export const BILL_STATUSES = ["created", "active", "completed", "cancelled"] as const;
export type BillStatus = (typeof BILL_STATUSES)[number];

const NEXT: Record<BillStatus, readonly BillStatus[]> = {
  created: ["active", "cancelled"],
  active: ["completed", "cancelled"],
  completed: [],
  cancelled: [],
};

export function canTransition(from: BillStatus, to: BillStatus): boolean {
  return NEXT[from].includes(to);
}

export function assertTransition(from: BillStatus, to: BillStatus): void {
  if (!canTransition(from, to)) {
    throw new Conflict(`A ${from} bill cannot become ${to}`, "illegal_status_transition", { currentStatus: from });
  }
}

/** Completed and cancelled bills are closed: their details, participants and split no longer change. */
export function assertEditable(status: BillStatus): void {
  if (status === "completed" || status === "cancelled") {
    throw new Conflict(`The bill is ${status} and can no longer be changed`, "bill_closed", { currentStatus: status });
  }
}
