// The SDK floor: the official openai SDK alone, sending the same chat request `total` times at `concurrency` with
// Node's built-in fetch (the SDK's default) or, with FETCH=undici, the undici package's fetch over a keep-alive pool
// sized to the concurrency, doing nothing with the answers: what any tool built on the SDK pays per request before
// doing its own work. Usage: [FETCH=undici] node sdk-generator.mjs URL TOTAL CONCURRENCY BODY_FILE
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';
import { Agent, fetch as undiciFetch } from 'undici';

const [url, totalArg, concArg, bodyFile] = process.argv.slice(2);
const total = Number(totalArg);
const concurrency = Number(concArg);
const body = JSON.parse(readFileSync(bodyFile, 'utf8'));
const client = new OpenAI({
  baseURL: url,
  apiKey: 'x',
  maxRetries: 0,
  ...(process.env.FETCH === 'undici' ? { fetch: undiciFetch, fetchOptions: { dispatcher: new Agent({ connections: concurrency }) } } : {}),
});
let sent = 0;
let ok = 0;
const t0 = performance.now();
async function worker() {
  while (sent < total) {
    sent++;
    const completion = await client.chat.completions.create(body);
    if (completion.choices.length > 0) ok++;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ requests: ok, seconds: secs, rps: ok / secs }));
