// Generation speed with and without a JSON schema, on hearth and llama-server through
// /completion, runs interleaved, the median of each figure (bench/grammar.sh sets it up):
//   node grammar.mjs HEARTH_URL LLAMA_URL MODEL RUNS THREADS
// Prints JSON lines with each measurement, then a JSON summary on the last line.
const [, , H, L, MODEL, RUNS = '3', THREADS = '2'] = process.argv;
const servers = { hearth: H, 'llama-server': L };

// Neither schema can be complete within 128 tokens, so every run generates all of them.
const constraints = {
  none: null,
  'free text (a string of 1000+ characters)': {
    type: 'object', properties: { text: { type: 'string', minLength: 1000 } }, required: ['text'],
  },
  'typed fields (200+ objects of integer, boolean, enum)': {
    type: 'array', minItems: 200,
    items: {
      type: 'object',
      properties: { id: { type: 'integer', minimum: 0, maximum: 999999 }, ok: { type: 'boolean' },
        tag: { enum: ['red', 'green', 'blue'] } },
      required: ['id', 'ok', 'tag'],
    },
  },
};

async function generate(url, schema, seed) {
  const body = { model: MODEL, prompt: `Item ${seed}: here is the record`, n_predict: 128, temperature: 0,
    cache_prompt: false };
  if (schema) body.json_schema = schema;
  const r = await fetch(url + '/completion', { method: 'POST', body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(JSON.stringify(j));
  if (j.timings.predicted_n !== 128) throw new Error(`${url}: ${j.timings.predicted_n} tokens, not 128`);
  return j.timings.predicted_per_second;
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const figures = {};
let seed = 1;
for (let run = 0; run < Number(RUNS); run++) {
  for (const [name, schema] of Object.entries(constraints)) {
    for (const [server, url] of Object.entries(servers)) {
      const v = await generate(url, schema, seed++);
      figures[name] ??= { hearth: [], 'llama-server': [] };
      figures[name][server].push(v);
      console.log(JSON.stringify({ name, server, value: v }));
    }
  }
}
const summary = {};
for (const [name, f] of Object.entries(figures)) summary[name] = { hearth: median(f.hearth), 'llama-server': median(f['llama-server']) };
console.log(JSON.stringify({ summary }));
