// Starts `gemma-rt serve` for the openai-client tests: a small random-weight Gemma with the
// full 256,000-id vocabulary and Gemma's real tokenizer.json (made once with make-random, as
// tests/support/real_vocab_model.h makes it), on a free loopback port, with an API key.
import { spawn, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

export const API_KEY = 'test-key-6f1c';

function tokenizerPath() {
  if (process.env.GEMMA_TOKENIZER_JSON) return process.env.GEMMA_TOKENIZER_JSON;
  const cache = process.env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(cache, 'gemma-rt', 'tokenizer', 'gemma', 'tokenizer.json');
}

function makeModel(cli) {
  const tokenizer = tokenizerPath();
  if (!existsSync(tokenizer)) {
    throw new Error(`Gemma's tokenizer.json is not at ${tokenizer}: run scripts/fetch-tokenizer.sh`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'gemma-rt-js-'));
  const config = {
    architectures: ['GemmaForCausalLM'], model_type: 'gemma', bos_token_id: 2, eos_token_id: 1,
    pad_token_id: 0, head_dim: 32, hidden_act: 'gelu_pytorch_tanh',
    hidden_activation: 'gelu_pytorch_tanh', hidden_size: 64, intermediate_size: 128,
    max_position_embeddings: 8192, num_attention_heads: 2, num_hidden_layers: 2,
    num_key_value_heads: 1, rms_norm_eps: 1e-6, rope_theta: 10000.0, tie_word_embeddings: true,
    torch_dtype: 'bfloat16', vocab_size: 256000,
  };
  writeFileSync(join(dir, 'config.json.in'), JSON.stringify(config));
  const model = join(dir, 'model');
  mkdirSync(model);
  execFileSync(cli, ['make-random', '--preset', join(dir, 'config.json.in'), '--dtype', 'bf16',
    '--seed', '7', '--out', model, '--threads', '2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  copyFileSync(tokenizer, join(model, 'tokenizer.json'));
  return { dir, model };
}

// { baseURL, port, stop(), metric(name) }
export async function startServer() {
  const cli = process.env.GEMMA_RT_CLI;
  if (!cli) throw new Error('set GEMMA_RT_CLI to the gemma-rt binary');
  const { dir, model } = makeModel(cli);
  const child = spawn(cli, ['serve', '--model', model, '--port', '0', '--parallel', '2',
    '--max-queue', '2', '--api-key', API_KEY, '--alias', 'gemma-test', '-t', '2'],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 120000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    child.on('exit', (code) => reject(new Error(`gemma-rt serve exited with ${code}`)));
  });
  const baseURL = `http://127.0.0.1:${port}/v1`;
  return {
    baseURL,
    port,
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`,
        { headers: { Authorization: `Bearer ${API_KEY}` } })).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? NaN : Number(line.slice(name.length + 1));
    },
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
