// What other modules may use of the status module (docs/architecture.md): writing a history row.
export { recordStatusChange } from "./status-history.repository";
