/* EMBED in the worker: one vector per input, pooled as the model says (mean over the tokens
 * for models without a pooling layer, as Ollama and llama-server do for generative models),
 * L2-normalised, optionally cut to the first `dimensions` values and normalised again. */
#include "base/util.h"
#include "engine/engine.h"
#include "engine/worker_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void normalize(float *v, uint32_t n)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        sum += (double)v[i] * v[i];
    double norm = sqrt(sum);
    if (norm > 0)
        for (uint32_t i = 0; i < n; i++)
            v[i] = (float)(v[i] / norm);
}

/* Computes the embedding of toks into out[n_embd]. */
static int embed_one(struct worker *w, const struct tokvec *toks, uint32_t n_embd, float *out,
                     struct err *e)
{
    enum llama_pooling_type pool = llama_pooling_type(w->ctx);
    uint32_t step = pool == LLAMA_POOLING_TYPE_NONE ? w->n_batch : llama_n_ubatch(w->ctx);
    if (pool != LLAMA_POOLING_TYPE_NONE && toks->n > step)
        return err_set(e, ERR_CONTEXT, "the input is %zu tokens; this model embeds at most %u",
                       toks->n, step);
    llama_memory_clear(llama_get_memory(w->ctx), true);
    struct llama_batch batch = llama_batch_init((int32_t)step, 0, 1);
    double *acc = xcalloc(n_embd, sizeof *acc);
    int rc = 0;
    for (size_t i = 0; i < toks->n && !rc; i += step) {
        size_t chunk = toks->n - i < step ? toks->n - i : step;
        batch.n_tokens = (int32_t)chunk;
        for (size_t j = 0; j < chunk; j++) {
            batch.token[j] = toks->v[i + j];
            batch.pos[j] = (llama_pos)(i + j);
            batch.n_seq_id[j] = 1;
            batch.seq_id[j][0] = 0;
            batch.logits[j] = 1;
        }
        if (llama_decode(w->ctx, batch)) {
            rc = err_set(e, ERR_INTERNAL, "llama_decode failed while embedding: %s",
                         engine_last_llama_error());
            break;
        }
        if (pool != LLAMA_POOLING_TYPE_NONE)
            continue;
        for (size_t j = 0; j < chunk; j++) {
            const float *v = llama_get_embeddings_ith(w->ctx, (int32_t)j);
            if (!v) {
                rc = err_set(e, ERR_INTERNAL, "libllama returned no embedding");
                break;
            }
            for (uint32_t k = 0; k < n_embd; k++)
                acc[k] += v[k];
        }
    }
    if (!rc && pool != LLAMA_POOLING_TYPE_NONE) {
        const float *v = llama_get_embeddings_seq(w->ctx, 0);
        if (!v)
            rc = err_set(e, ERR_INTERNAL, "libllama returned no pooled embedding");
        else
            for (uint32_t k = 0; k < n_embd; k++)
                out[k] = v[k];
    } else if (!rc) {
        for (uint32_t k = 0; k < n_embd; k++)
            out[k] = (float)(acc[k] / (double)toks->n);
    }
    free(acc);
    llama_batch_free(batch);
    return rc;
}

int worker_embed(struct worker *w, const struct proto_msg *req, struct proto_msg *out,
                 struct err *e)
{
    int32_t n_out = llama_model_n_embd_out(w->model);
    uint32_t n_embd = (uint32_t)(n_out > 0 ? n_out : llama_model_n_embd(w->model));
    uint32_t dim = req->dimensions ? req->dimensions : n_embd;
    if (dim > n_embd)
        return err_set(e, ERR_BAD_REQUEST, "dimensions %u is larger than the model's %u",
                       req->dimensions, n_embd);
    if (req->inputs.n == 0)
        return err_set(e, ERR_BAD_REQUEST, "no input to embed");
    int64_t t0 = now_us();
    float *full = xcalloc(n_embd, sizeof *full);
    out->embeddings = xcalloc((size_t)req->inputs.n * dim, sizeof(float));
    out->n_embeddings = (uint32_t)req->inputs.n;
    out->embedding_dim = dim;
    llama_set_embeddings(w->ctx, true);
    struct gen_state g = {req->id, 0, 0};
    int rc = 0;
    for (int i = 0; i < req->inputs.n && !rc; i++) {
        struct tokvec toks = {0};
        rc = tokenize_append(w, req->inputs.v[i], true, false, &toks);
        if (rc) {
            rc = err_set(e, rc, "input %d could not be tokenized", i);
        } else if (toks.n == 0) {
            rc = err_set(e, ERR_BAD_REQUEST, "input %d is empty", i);
        } else if (toks.n > w->n_ctx) {
            if (req->flags & PROTO_EMBED_TRUNCATE)
                toks.n = w->n_ctx;
            else
                rc = err_set(e, ERR_CONTEXT,
                             "input %d is %zu tokens but the context holds %u (set truncate)", i,
                             toks.n, w->n_ctx);
        }
        if (!rc)
            rc = embed_one(w, &toks, n_embd, full, e);
        if (!rc) {
            if (!(req->flags & PROTO_EMBED_NO_NORMALIZE)) {
                normalize(full, n_embd);
                if (dim < n_embd)
                    normalize(full, dim);
            }
            memcpy(out->embeddings + (size_t)i * dim, full, dim * sizeof(float));
            out->stats.prompt_n += (uint32_t)toks.n;
        }
        tokvec_free(&toks);
        poll_parent(w, &g);
        if (g.cancelled && !rc)
            rc = err_set(e, g.peer_gone ? ERR_WORKER_DIED : ERR_CANCELLED, "cancelled");
    }
    llama_set_embeddings(w->ctx, false);
    free(full);
    out->stats.prompt_us = now_us() - t0;
    return rc;
}
