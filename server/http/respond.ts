// Small whole responses: a JSON body with its length, the error envelope, and an answer written
// on a raw socket when Node's parser gave up on a request (there is no response object then).
import { type ServerResponse, STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import { errorEnvelope, type HttpRefusal } from "./envelope.ts";

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  sendJsonText(res, status, JSON.stringify(value));
}

export function sendJsonText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

export function sendRefusal(res: ServerResponse, refusal: HttpRefusal, requestId: string): void {
  sendJsonText(res, refusal.status, errorEnvelope(refusal, requestId));
}

/** Answers on the raw socket and closes it. */
export function answerOnSocket(socket: Socket, refusal: HttpRefusal, requestId: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = errorEnvelope(refusal, requestId);
  socket.end(
    `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\ncontent-type: application/json\r\nx-request-id: ${requestId}\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
