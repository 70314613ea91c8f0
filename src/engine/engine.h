/* The worker side of the engine: what runs inside `hearth worker`, next to libllama.
 *
 * Only files under src/engine/ that implement this header include llama.h; everything else
 * talks to a worker through proto.h and client.h.
 */
#ifndef HEARTH_ENGINE_ENGINE_H
#define HEARTH_ENGINE_ENGINE_H

#include "base/err.h"
#include "engine/params.h"

#include <stdint.h>

struct llama_context;
struct llama_model;
struct llama_sampler;

/* The sampler of one request: an optional grammar plus the chain of every other sampler, in
 * llama-server's order: logit bias, penalties, DRY, top-n-sigma, top-k, typical, top-p, min-p,
 * XTC, temperature, then the distribution draw (or Mirostat v1/v2 after the temperature).
 * The grammar is kept apart from the chain, as in llama-server: prompt tokens are fed to the
 * penalties but not to the grammar, and a token is first drawn without the grammar and only
 * redrawn with it when the grammar rejects it (checking a whole vocabulary against a grammar
 * every step is slow). */
struct sampler {
    struct llama_sampler *grammar; /* NULL without a grammar */
    struct llama_sampler *chain;
    void *cur; /* llama_token_data[n_vocab], reused every step */
    int32_t n_vocab;
};

/* n_ctx resolves the "-1 means the whole context" windows. Returns 0, or ERR_BAD_REQUEST with e
 * set when the grammar does not parse or a logit bias names a token outside the vocabulary. */
int sampler_init(struct sampler *s, const struct llama_model *model, const struct gen_params *p,
                 uint32_t n_ctx, struct err *e);

/* Draws the next token from the logits of output idx and accepts it into every sampler (into
 * the grammar only when it is not an end-of-generation token). */
int32_t sampler_sample(struct sampler *s, struct llama_context *ctx, int32_t idx);

/* Feeds a prompt token to the penalties (not the grammar). */
void sampler_accept_prompt(struct sampler *s, int32_t token);
/* A token the worker chose rather than sampled (the reasoning budget's closing text): the
 * grammar and the penalties see it as if sampled. */
void sampler_accept_forced(struct sampler *s, int32_t token);

void sampler_free(struct sampler *s); /* NULL-safe */

/* The last error line libllama logged (for messages such as "failed to load model: ..."), or "".
 * Valid until the next libllama call on this thread. */
const char *engine_last_llama_error(void);

/* Routes libllama's log into ours (debug level; errors are kept for engine_last_llama_error). */
void engine_init_logging(void);

/* `hearth worker --fd N`: serves the protocol on fd N until the peer closes it. Returns the
 * process exit status. */
int worker_main(int argc, char **argv);

#endif
