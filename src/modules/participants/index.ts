// What other modules may use of the participants module (docs/architecture.md): how a participant is shown.
export { presentParticipant } from "./participants.presenter";
