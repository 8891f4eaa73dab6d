// The official `openai` npm client, unchanged, against omega serve's /v1/embeddings.
//   node openai_client.mjs BASE_URL DIM MODULES_DIR [API_KEY]
// With API_KEY the client sends it (as Authorization: Bearer) and a wrong key must fail 401; an
// https BASE_URL is verified against NODE_EXTRA_CA_CERTS.
import { createRequire } from 'node:module';
import path from 'node:path';

const [baseURL, dimArg, modulesDir, apiKey] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesDir), 'x.js'));
const OpenAI = require('openai').default ?? require('openai');
const dim = Number(dimArg);
const client = new OpenAI({ apiKey: apiKey ?? 'not-needed', baseURL, maxRetries: 0 });
const fail = (msg) => { console.error('FAIL ' + msg); process.exit(1); };
const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

// the client asks for base64 by default and decodes it to floats itself
const r = await client.embeddings.create({ model: 'omega', input: ['hello world', 'a second input'] });
if (r.object !== 'list' || r.data.length !== 2) fail('list of 2 expected: ' + JSON.stringify(r).slice(0, 200));
if (r.data[0].embedding.length !== dim) fail(`dimension ${r.data[0].embedding.length} != ${dim}`);
if (Math.abs(norm(r.data[0].embedding) - 1) > 1e-5) fail('not unit length');
if (!(r.usage.prompt_tokens > 4) || r.usage.total_tokens !== r.usage.prompt_tokens) fail('usage');
const f = await client.embeddings.create({ model: 'omega', input: 'hello world', encoding_format: 'float' });
const maxDiff = Math.max(...f.data[0].embedding.map((x, i) => Math.abs(x - r.data[0].embedding[i])));
if (maxDiff > 1e-6) fail('float and base64 differ by ' + maxDiff);
const d = await client.embeddings.create({ model: 'omega', input: 'hello world', dimensions: 8 });
if (d.data[0].embedding.length !== 8) fail('dimensions');
const t = await client.embeddings.create({ model: 'omega', input: [[101, 7592, 2088, 102]] });
const tdiff = Math.max(...t.data[0].embedding.map((x, i) => Math.abs(x - r.data[0].embedding[i])));
if (tdiff > 1e-6) fail('token-id input differs by ' + tdiff);
try {
  await client.embeddings.create({ model: 'omega', input: [] });
  fail('an empty input must be rejected');
} catch (e) {
  if (!(e instanceof OpenAI.APIError) || e.status !== 422) fail('expected a 422 APIError, got ' + e);
}
if (apiKey) {
  const wrong = new OpenAI({ apiKey: 'a-wrong-key-0123456789', baseURL, maxRetries: 0 });
  try {
    await wrong.embeddings.create({ model: 'omega', input: 'hello' });
    fail('a wrong key must be refused');
  } catch (e) {
    if (!(e instanceof OpenAI.AuthenticationError) || e.status !== 401) fail('expected a 401 AuthenticationError, got ' + e);
  }
}
console.log('openai client: ok');
