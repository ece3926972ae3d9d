// gemma-rt serve through the official openai npm client, unchanged: completions and chat,
// whole and streamed, include_usage, logprobs (with echo), an aborted stream that frees its
// slot, and HTTP errors arriving as the client's error classes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { API_KEY, startServer } from './serve_fixture.mjs';

let server;
let client;

before(async () => {
  server = await startServer();
  client = new OpenAI({ apiKey: API_KEY, baseURL: server.baseURL, maxRetries: 0 });
});

after(async () => {
  assert.equal(await server.stop(), 0, 'SIGTERM ends gemma-rt serve with exit code 0');
});

async function waitIdle() {
  for (let i = 0; i < 500; i++) {
    if (await server.metric('gemma_requests_in_flight') === 0
        && await server.metric('gemma_kv_blocks_used') === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail('the server did not come back to idle');
}

test('models lists the alias with its context length', async () => {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].id, 'gemma-test');
  assert.equal(models.data[0].context_length, 8192);
});

test('completion, whole and streamed, give the same greedy text', async () => {
  const params = { model: 'gemma-test', prompt: 'The capital of France is', max_tokens: 10,
    temperature: 0 };
  const whole = await client.completions.create(params);
  assert.equal(whole.object, 'text_completion');
  assert.equal(whole.choices.length, 1);
  assert.equal(whole.choices[0].finish_reason, 'length');
  assert.equal(whole.usage.completion_tokens, 10);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + 10);
  const stream = await client.completions.create({ ...params, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.equal(text, whole.choices[0].text);
  assert.equal(finish, 'length');
  assert.deepEqual(usage, whole.usage);
});

test('chat, whole and streamed, with the role first and usage last', async () => {
  const params = { model: 'gemma-test', temperature: 0, max_completion_tokens: 8,
    messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello!' }] };
  const whole = await client.chat.completions.create(params);
  assert.equal(whole.object, 'chat.completion');
  assert.equal(whole.choices[0].message.role, 'assistant');
  assert.ok(['stop', 'length'].includes(whole.choices[0].finish_reason));
  const stream = await client.chat.completions.create({ ...params, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let role = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) { usage = chunk.usage; assert.equal(chunk.choices.length, 0); }
    for (const c of chunk.choices) {
      if (c.delta.role) role = c.delta.role;
      if (c.delta.content) text += c.delta.content;
    }
  }
  assert.equal(role, 'assistant');
  assert.equal(text, whole.choices[0].message.content);
  assert.deepEqual(usage, whole.usage);
});

test('logprobs: completions with echo, chat with top_logprobs', async () => {
  const c = await client.completions.create({ model: 'gemma-test', prompt: 'One, two, three',
    max_tokens: 3, temperature: 0, logprobs: 2, echo: true });
  const lp = c.choices[0].logprobs;
  const n = c.usage.prompt_tokens + 3;
  assert.equal(lp.tokens.length, n);
  assert.equal(lp.token_logprobs.length, n);
  assert.equal(lp.token_logprobs[0], null);
  assert.ok(lp.token_logprobs.slice(1).every((x) => x <= 0));
  assert.equal(Object.keys(lp.top_logprobs[n - 1]).length, 2);
  assert.ok(c.choices[0].text.startsWith('One, two, three'));
  const chat = await client.chat.completions.create({ model: 'gemma-test', temperature: 0,
    max_tokens: 4, logprobs: true, top_logprobs: 3,
    messages: [{ role: 'user', content: 'Count.' }] });
  const content = chat.choices[0].logprobs.content;
  assert.equal(content.length, chat.usage.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 3);
    assert.equal(t.top_logprobs[0].token, t.token);
  }
});

test('an aborted stream frees its slot', async () => {
  const controller = new AbortController();
  const stream = await client.completions.create({ model: 'gemma-test', prompt: 'Go on:',
    max_tokens: 4000, temperature: 1, logit_bias: { 1: -100 }, stream: true },
  { signal: controller.signal });
  let chunks = 0;
  // The client's stream ends quietly when its signal aborts (openai-node returns on an
  // AbortError), closing the connection under it. A chunk already received may still come
  // out after the abort (Node 18's fetch yields one), so the count is 3 or a few more, far
  // below the 4000 tokens asked for.
  for await (const chunk of stream) {
    assert.ok(chunk.choices.length <= 1);
    if (++chunks === 3) controller.abort();
  }
  assert.ok(chunks >= 3 && chunks <= 8, `${chunks} chunks after an abort at the third`);
  await waitIdle();
  assert.ok(await server.metric('gemma_requests_cancelled_by_disconnect_total') >= 1);
  assert.ok(await server.metric('gemma_generated_tokens_total') < 4000);
});

test('HTTP errors arrive as the client\'s error classes', async () => {
  await assert.rejects(client.completions.create({ model: 'gemma-test', prompt: 'x',
    temperature: 7 }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400
    && e.error.message.includes('temperature'));
  await assert.rejects(client.chat.completions.create({ model: 'gemma-test',
    messages: [{ role: 'assistant', content: 'first' }] }),
  (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
  await assert.rejects(client.completions.create({ model: 'no-such-model', prompt: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'model_not_found');
  const stranger = new OpenAI({ apiKey: 'wrong', baseURL: server.baseURL, maxRetries: 0 });
  await assert.rejects(stranger.completions.create({ model: 'gemma-test', prompt: 'x' }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  await assert.rejects(client.completions.create({ model: 'gemma-test', prompt: 'x',
    max_tokens: 1e12 }), (e) => e instanceof OpenAI.BadRequestError
    && e.code === 'context_length_exceeded');
  // Fill the 2 slots and the queue of 2, then one more is a 429.
  const slow = { model: 'gemma-test', prompt: 'x', max_tokens: 3000, logit_bias: { 1: -100 },
    stream: true };
  const controllers = [];
  const streams = [];
  for (let i = 0; i < 4; i++) {
    controllers.push(new AbortController());
    streams.push(await client.completions.create(slow, { signal: controllers[i].signal }));
  }
  await assert.rejects(client.completions.create({ model: 'gemma-test', prompt: 'x' }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429
      && e.headers.get('retry-after') === '1');
  for (const c of controllers) c.abort();
  await waitIdle();
});
