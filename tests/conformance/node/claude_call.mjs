// One Messages API call by the real Node SDK (@anthropic-ai/sdk), reported as one JSON line.
//
// Usage: node claude_call.mjs SDK_DIR BASE_URL TIMEOUT_MS MAX_RETRIES stream|plain
//   SDK_DIR: the folder `npm install --prefix SDK_DIR @anthropic-ai/sdk` filled.
// Prints one JSON line per stream event as it arrives ({"event": type, "at_ms": ...}), so
// that a caller who has to kill a hung call still knows what arrived, then one closing line
// {"outcome": "success"|"error", "error": class name, "status", "message", "causes",
//  "events": [event types received], "text", "elapsed_ms", "sdk": version}.
// The SDK decides everything (timeouts, retries, errors): this script only calls it and
// writes down what happened, so a test can compare it with the Python SDK's behaviour.
import { createRequire } from 'node:module';
import path from 'node:path';

const [sdkDir, baseURL, timeoutMs, maxRetries, mode] = process.argv.slice(2);
if (!sdkDir || !baseURL || !timeoutMs || !maxRetries || !['stream', 'plain'].includes(mode)) {
  console.error('usage: node claude_call.mjs SDK_DIR BASE_URL TIMEOUT_MS MAX_RETRIES stream|plain');
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(sdkDir), 'package.json'));
const sdk = require('@anthropic-ai/sdk');
const Anthropic = sdk.default ?? sdk.Anthropic;
const { VERSION: version } = require('@anthropic-ai/sdk/version');

const client = new Anthropic({
  apiKey: 'sk-ant-test',
  baseURL,
  timeout: Number(timeoutMs),
  maxRetries: Number(maxRetries),
});
const request = {
  model: 'claude-sonnet-4-6',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'hi' }],
};

// The chain of causes under an error ("TypeError: fetch failed", "Error: connect ECONNREFUSED ..."):
// undici puts the socket-level reason there.
const causes = (err) => {
  const chain = [];
  for (let c = err?.cause; c && chain.length < 4; c = c.cause) {
    chain.push(`${c.constructor?.name ?? typeof c}: ${c.code ? c.code + ' ' : ''}${c.message ?? c}`);
  }
  return chain;
};

const started = performance.now();
const events = [];
let text = '';
const report = (fields) => {
  const elapsed_ms = Math.round(performance.now() - started);
  console.log(JSON.stringify({ sdk: version, events, text, elapsed_ms, ...fields }));
};
try {
  if (mode === 'stream') {
    const stream = await client.messages.create({ ...request, stream: true });
    for await (const event of stream) {
      events.push(event.type);
      console.log(JSON.stringify({ event: event.type, at_ms: Math.round(performance.now() - started) }));
      if (event.type === 'content_block_delta') text += event.delta.text;
    }
  } else {
    const message = await client.messages.create(request);
    events.push('message');
    text = message.content.map((block) => block.text ?? '').join('');
  }
  report({ outcome: 'success' });
} catch (err) {
  report({
    outcome: 'error',
    error: err?.constructor?.name ?? typeof err,
    status: err?.status ?? null,
    message: String(err?.message ?? err),
    causes: causes(err),
  });
}
