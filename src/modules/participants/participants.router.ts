// HTTP in, HTTP out for a bill's participants.
import type { ApiRouter } from "../../http/api-router";
import { problems } from "../../http/common-schemas";
import { billIdParams, participantSummary } from "../bills";
import type { ParticipantsService } from "./participants.service";
import { addParticipantBody, participantListSchema, participantParams, unpaidSchema, updateParticipantBody } from "./participants.schemas";

export function registerParticipantRoutes(api: ApiRouter, participants: ParticipantsService): void {
  api
    .route({
      method: "get",
      path: "/bills/:billId/participants",
      tag: "participants",
      summary: "The bill's participants with their amounts and payment status",
      params: billIdParams,
      responses: { 200: { description: "Participants", schema: participantListSchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await participants.list(user, params.billId));
      },
    })
    .route({
      method: "get",
      path: "/bills/:billId/participants/unpaid",
      tag: "participants",
      summary: "The participants who still owe money, with what they owe",
      params: billIdParams,
      responses: { 200: { description: "Who owes what", schema: unpaidSchema }, ...problems(400, 401, 404) },
      handler: async ({ user, params }, _req, res) => {
        res.json(await participants.unpaid(user, params.billId));
      },
    })
    .route({
      method: "post",
      path: "/bills/:billId/participants",
      tag: "participants",
      summary: "Add a participant (looked up in the bank's user directory)",
      params: billIdParams,
      body: addParticipantBody,
      responses: { 201: { description: "Added", schema: participantSummary }, ...problems(400, 401, 404, 409, 422) },
      handler: async ({ user, params, body }, _req, res) => {
        res.status(201).json(await participants.add(user, params.billId, body));
      },
    })
    .route({
      method: "put",
      path: "/bills/:billId/participants/:participantId",
      tag: "participants",
      summary: "Change a participant's name, phone or email",
      params: participantParams,
      body: updateParticipantBody,
      responses: { 200: { description: "Updated", schema: participantSummary }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params, body }, _req, res) => {
        res.json(await participants.update(user, params.billId, params.participantId, body));
      },
    })
    .route({
      method: "delete",
      path: "/bills/:billId/participants/:participantId",
      tag: "participants",
      summary: "Remove a participant who has not paid",
      params: participantParams,
      responses: { 204: { description: "Removed" }, ...problems(400, 401, 404, 409) },
      handler: async ({ user, params }, _req, res) => {
        await participants.remove(user, params.billId, params.participantId);
        res.status(204).end();
      },
    });
}
