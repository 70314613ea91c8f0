/* EMBED in the worker: one vector per input, pooled as the model says (mean over the tokens
 * for models without a pooling layer, as Ollama and llama-server do for generative models),
 * L2-normalised, optionally cut to the first `dimensions` values and normalised again. */
#include "base/buf.h"
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
static int embed_one(struct worker *w, int seq, const struct tokvec *toks, uint32_t n_embd,
                     float *out, struct err *e)
{
    enum llama_pooling_type pool = llama_pooling_type(w->ctx);
    uint32_t step = pool == LLAMA_POOLING_TYPE_NONE ? w->n_batch : llama_n_ubatch(w->ctx);
    if (pool != LLAMA_POOLING_TYPE_NONE && toks->n > step)
        return err_set(e, ERR_CONTEXT, "the input is %zu tokens; this model embeds at most %u",
                       toks->n, step);
    llama_memory_seq_rm(llama_get_memory(w->ctx), seq, -1, -1);
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
            batch.seq_id[j][0] = seq;
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
        const float *v = llama_get_embeddings_seq(w->ctx, seq);
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

/* A query and a document as a reranker reads them: the model's "rerank" template when it has
 * one, else [BOS] query [EOS] [SEP] document [EOS] as the vocabulary asks (llama-server's
 * layout). */
static int rerank_tokens(struct worker *w, const char *query, const char *doc, struct tokvec *t)
{
    const char *tmpl = llama_model_chat_template(w->model, "rerank");
    if (tmpl) {
        struct buf b;
        buf_init(&b, PROTO_MAX_PROMPT);
        for (const char *p = tmpl; *p;) {
            if (!strncmp(p, "{query}", 7)) {
                buf_puts(&b, query);
                p += 7;
            } else if (!strncmp(p, "{document}", 10)) {
                buf_puts(&b, doc);
                p += 10;
            } else {
                buf_append(&b, p++, 1);
            }
        }
        int rc = tokenize_append(w, b.data ? b.data : "", false, true, t);
        buf_free(&b);
        return rc;
    }
    llama_token eos = llama_vocab_eos(w->vocab);
    if (eos == LLAMA_TOKEN_NULL)
        eos = llama_vocab_sep(w->vocab);
    if (llama_vocab_get_add_bos(w->vocab))
        tokvec_push(t, llama_vocab_bos(w->vocab));
    int rc = tokenize_append(w, query, false, false, t);
    if (llama_vocab_get_add_eos(w->vocab))
        tokvec_push(t, eos);
    if (llama_vocab_get_add_sep(w->vocab))
        tokvec_push(t, llama_vocab_sep(w->vocab));
    if (!rc)
        rc = tokenize_append(w, doc, false, false, t);
    if (llama_vocab_get_add_eos(w->vocab))
        tokvec_push(t, eos);
    return rc;
}

/* inputs[0] is the query, the rest documents: one score each. */
static int rerank(struct worker *w, int seq, const struct proto_msg *req, struct proto_msg *out,
                  struct err *e)
{
    if (llama_pooling_type(w->ctx) != LLAMA_POOLING_TYPE_RANK)
        return err_set(e, ERR_BAD_REQUEST,
                       "this model is not a reranker (it has no rank pooling head)");
    if (req->inputs.n < 2)
        return err_set(e, ERR_BAD_REQUEST, "rerank needs a query and at least one document");
    uint32_t n_cls = llama_model_n_cls_out(w->model);
    float *score = xcalloc(n_cls ? n_cls : 1, sizeof *score);
    int n_docs = req->inputs.n - 1;
    out->embeddings = xcalloc((size_t)n_docs, sizeof(float));
    out->n_embeddings = (uint32_t)n_docs;
    out->embedding_dim = 1;
    int64_t t0 = now_us();
    llama_set_embeddings(w->ctx, true);
    int rc = 0;
    for (int i = 0; i < n_docs && !rc; i++) {
        struct tokvec t = {0};
        rc = rerank_tokens(w, req->inputs.v[0], req->inputs.v[i + 1], &t);
        if (rc)
            rc = err_set(e, rc, "document %d could not be tokenized", i);
        else if (t.n > w->n_ctx && (req->flags & PROTO_EMBED_TRUNCATE))
            t.n = w->n_ctx;
        if (!rc)
            rc = embed_one(w, seq, &t, n_cls ? n_cls : 1, score, e);
        if (!rc) {
            out->embeddings[i] = score[0];
            out->stats.prompt_n += (uint32_t)t.n;
        }
        tokvec_free(&t);
    }
    llama_set_embeddings(w->ctx, false);
    free(score);
    out->stats.prompt_us = now_us() - t0;
    return rc;
}

int worker_embed(struct worker *w, int seq, const struct proto_msg *req, struct proto_msg *out,
                 struct err *e)
{
    if (req->flags & PROTO_EMBED_RERANK)
        return rerank(w, seq, req, out, e);
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
            rc = embed_one(w, seq, &toks, n_embd, full, e);
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
        if (!rc && worker_poll_cancel(w, req->id))
            rc = err_set(e, w->peer_gone ? ERR_WORKER_DIED : ERR_CANCELLED, "cancelled");
    }
    llama_set_embeddings(w->ctx, false);
    free(full);
    out->stats.prompt_us = now_us() - t0;
    return rc;
}
