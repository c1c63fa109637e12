/**
 * A loopback chat-completions server that answers exactly what a test scripts, to check that a run's files hold
 * what the server sent (odd shapes included: indexes out of order or missing, extra choices, bad usage, ...).
 */
import { createServer, type IncomingMessage } from 'node:http';

export interface ShapeRequest {
  /** The parsed request body as evalrun sent it. */
  body: Record<string, unknown> & { messages: Array<{ role: string; content: string }>; n?: number; seed?: number };
  /** The last message's content: tests key their scripted answers on it. */
  prompt: string;
}

export interface ShapeAnswer {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string as it is. */
  body: unknown;
}

export interface ShapeServer {
  /** The base URL to put under provider.base_url (ends in /v1). */
  url: string;
  /** Every request received, in arrival order. */
  requests: ShapeRequest[];
  close(): Promise<void>;
}

/** A chat.completion body with the given choices and usage, for `answer` functions to return. */
export function completion(choices: unknown[], usage: unknown = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, model = 'shape-model'): Record<string, unknown> {
  return { id: `chatcmpl-shape-${Math.random().toString(36).slice(2, 10)}`, object: 'chat.completion', created: 1_700_000_000, model, choices, usage };
}

/** A plain answered choice. */
export function choice(index: unknown, content: string | null, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { message, ...rest } = extra as { message?: Record<string, unknown> };
  return { index, message: { role: 'assistant', content, refusal: null, ...message }, finish_reason: 'stop', logprobs: null, ...rest };
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  req.setEncoding('utf8');
  for await (const chunk of req) text += chunk as string;
  return text;
}

/** Starts the server on 127.0.0.1, port 0; `answer` scripts the reply to each POST /v1/chat/completions. */
export async function startShapeServer(answer: (req: ShapeRequest) => ShapeAnswer): Promise<ShapeServer> {
  const requests: ShapeRequest[] = [];
  const server = createServer((req, res) => {
    void (async () => {
      const text = await readBody(req);
      if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
        return;
      }
      const body = JSON.parse(text) as ShapeRequest['body'];
      const shaped: ShapeRequest = { body, prompt: String(body.messages.at(-1)?.content ?? '') };
      requests.push(shaped);
      const a = answer(shaped);
      const payload = typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
      res.writeHead(a.status ?? 200, { 'content-type': 'application/json', ...a.headers }).end(payload);
    })().catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: String(e) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
