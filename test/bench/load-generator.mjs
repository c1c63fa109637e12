// The ceiling: a minimal keep-alive HTTP client that sends the same chat request `total` times at `concurrency`,
// doing nothing else. Usage: node load-generator.mjs URL TOTAL CONCURRENCY BODY_FILE
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

const [url, totalArg, concArg, bodyFile] = process.argv.slice(2);
const total = Number(totalArg);
const concurrency = Number(concArg);
const body = readFileSync(bodyFile, 'utf8');
const agent = new Agent({ connections: concurrency });
let sent = 0;
let ok = 0;
const t0 = performance.now();
async function worker() {
  while (sent < total) {
    sent++;
    const res = await request(`${url}/chat/completions`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: 'Bearer x' },
      dispatcher: agent,
    });
    await res.body.text();
    if (res.statusCode === 200) ok++;
  }
}
await Promise.all(Array.from({ length: concurrency }, worker));
const secs = (performance.now() - t0) / 1000;
await agent.close();
console.log(JSON.stringify({ requests: ok, seconds: secs, rps: ok / secs }));
