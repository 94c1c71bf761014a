// Real-time events of a bill (status changes, payments, AI results), published after the change
// is committed and streamed to subscribers with Server-Sent Events. In-process: with several
// instances behind a load balancer, a subscriber only sees events of its own instance (PostgreSQL
// LISTEN/NOTIFY would carry them across; not needed for one instance).
import { EventEmitter } from "node:events";

export type BillEventType = "bill.status" | "payment.received" | "payment.failed" | "ai.result";

export interface BillEvent {
  type: BillEventType;
  billId: string;
  at: string;
  data: Record<string, unknown>;
}

export class BillEvents {
  private readonly emitter = new EventEmitter();
  private readonly closers = new Set<() => void>();
  private sequence = 0;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(billId: string, type: BillEventType, data: Record<string, unknown>, at = new Date()): void {
    this.sequence += 1;
    this.emitter.emit(billId, { type, billId, at: at.toISOString(), data, id: this.sequence });
  }

  /** Listens to one bill; returns the function that stops listening. */
  subscribe(billId: string, listener: (event: BillEvent & { id: number }) => void, onClose: () => void): () => void {
    this.emitter.on(billId, listener);
    const stop = () => {
      this.emitter.off(billId, listener);
      this.closers.delete(onClose);
    };
    this.closers.add(onClose);
    return stop;
  }

  /** Ends every open stream (graceful shutdown). */
  closeAll(): void {
    for (const close of [...this.closers]) close();
  }
}
