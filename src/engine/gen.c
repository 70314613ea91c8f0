/* GENERATE in the worker: build the prompt's tokens (prefix tokens, fill-in-the-middle,
 * truncation), decode it, then sample, detokenize and stream until a stop condition. */
#include "base/log.h"
#include "base/util.h"
#include "engine/engine.h"
#include "engine/textout.h"
#include "engine/worker_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The prompt as tokens. Returns 0 or an error for the request. */
static int build_prompt(struct worker *w, const struct proto_msg *req, struct tokvec *t,
                        struct err *e)
{
    bool parse_special = (req->flags & PROTO_GEN_PARSE_SPECIAL) != 0;
    bool add_bos = !(req->flags & PROTO_GEN_NO_BOS);
    int32_t n_vocab = llama_vocab_n_tokens(w->vocab);
    int rc = 0;

    if (req->flags & PROTO_GEN_SUFFIX) {
        /* Fill in the middle, as llama-server's /infill lays it out:
         * [BOS] FIM_PRE prefix FIM_SUF suffix FIM_MID */
        llama_token pre = llama_vocab_fim_pre(w->vocab), suf = llama_vocab_fim_suf(w->vocab),
                    mid = llama_vocab_fim_mid(w->vocab);
        if (pre == LLAMA_TOKEN_NULL || suf == LLAMA_TOKEN_NULL || mid == LLAMA_TOKEN_NULL)
            return err_set(e, ERR_BAD_REQUEST,
                           "this model has no fill-in-the-middle tokens, so suffix is not "
                           "supported");
        if (add_bos && llama_vocab_get_add_bos(w->vocab) &&
            llama_vocab_bos(w->vocab) != LLAMA_TOKEN_NULL)
            tokvec_push(t, llama_vocab_bos(w->vocab));
        tokvec_push(t, pre);
        rc = tokenize_append(w, req->prompt, false, parse_special, t);
        tokvec_push(t, suf);
        if (!rc)
            rc = tokenize_append(w, req->suffix ? req->suffix : "", false, parse_special, t);
        tokvec_push(t, mid);
    } else {
        for (uint32_t i = 0; i < req->n_prefix_tokens; i++) {
            if (req->prefix_tokens[i] < 0 || req->prefix_tokens[i] >= n_vocab)
                return err_set(e, ERR_BAD_REQUEST,
                               "context token %d is outside the vocabulary (%d tokens)",
                               req->prefix_tokens[i], n_vocab);
            tokvec_push(t, req->prefix_tokens[i]);
        }
        /* After earlier context the prompt continues it: no second BOS. */
        rc = tokenize_append(w, req->prompt, add_bos && t->n == 0, parse_special, t);
    }
    if (rc)
        return err_set(e, rc, "the prompt could not be tokenized");
    if (t->n == 0) {
        /* Generation needs at least one token to condition on: an empty prompt means BOS. */
        llama_token bos = llama_vocab_bos(w->vocab);
        if (bos == LLAMA_TOKEN_NULL)
            return err_set(e, ERR_BAD_REQUEST,
                           "the prompt is empty and the model has no BOS token to start from");
        tokvec_push(t, bos);
    }
    return 0;
}

/* Makes the prompt fit the context, or explains why it does not. Truncation keeps the first
 * num_keep tokens and drops the oldest after them, leaving room to generate. */
static int fit_context(struct worker *w, const struct proto_msg *req, struct tokvec *t,
                       struct gen_stats *st, struct err *e)
{
    if (t->n < w->n_ctx)
        return 0;
    if (!(req->flags & PROTO_GEN_TRUNCATE))
        return err_set(e, ERR_CONTEXT,
                       "the prompt is %zu tokens but the context holds %u (raise num_ctx, or ask "
                       "for truncation)",
                       t->n, w->n_ctx);
    int32_t np = req->gen.num_predict;
    size_t reserve = np > 0 ? (size_t)np : w->n_ctx / 4;
    if (reserve > w->n_ctx / 2)
        reserve = w->n_ctx / 2;
    size_t target = w->n_ctx - reserve;
    size_t keep = (size_t)req->gen.num_keep;
    if (keep > target / 2)
        keep = target / 2;
    size_t drop = t->n - target;
    if (!t->v || keep + drop > t->n)
        return err_set(e, ERR_CONTEXT, "the prompt cannot be truncated to fit");
    memmove(t->v + keep, t->v + keep + drop, (t->n - keep - drop) * sizeof *t->v);
    t->n -= drop;
    st->truncated = (uint32_t)drop;
    log_info("msg=\"prompt truncated to fit the context\" dropped=%zu kept=%zu n_ctx=%u", drop,
             t->n, w->n_ctx);
    return 0;
}

static char *piece_of(const struct worker *w, llama_token tok)
{
    char buf[256];
    int32_t n = llama_token_to_piece(w->vocab, tok, buf, sizeof buf, 0, false);
    return xstrndup(buf, n > 0 ? (size_t)n : 0);
}

/* The chosen token's log-probability under the model (before sampling transforms) and the
 * top alternatives, as llama-server's n_probs reports them. */
static void compute_probs(struct worker *w, llama_token chosen, uint32_t n_top,
                          struct token_probs *out)
{
    const float *logits = llama_get_logits_ith(w->ctx, -1);
    int32_t n_vocab = llama_vocab_n_tokens(w->vocab);
    float max = -INFINITY;
    for (int32_t i = 0; i < n_vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)(logits[i] - max));
    float lse = max + (float)log(sum > 0 ? sum : 1.0);
    out->chosen.token = chosen;
    out->chosen.piece = piece_of(w, chosen);
    out->chosen.logprob = logits[chosen] - lse;
    out->top = xcalloc(n_top ? n_top : 1, sizeof *out->top);
    /* Selection of the n_top best by repeated scans: n_top is at most 20. */
    for (uint32_t k = 0; k < n_top && (int32_t)k < n_vocab; k++) {
        int32_t best = -1;
        for (int32_t i = 0; i < n_vocab; i++) {
            bool taken = false;
            for (uint32_t j = 0; j < k && !taken; j++)
                taken = out->top[j].token == i;
            if (!taken && (best < 0 || logits[i] > logits[best]))
                best = i;
        }
        out->top[k].token = best;
        out->top[k].piece = piece_of(w, best);
        out->top[k].logprob = logits[best] - lse;
        out->n_top++;
    }
}

static int send_token(struct worker *w, uint64_t id, struct textout *to, uint32_t n_tokens,
                      struct token_probs *probs)
{
    size_t len;
    const char *s = textout_ready(to, &len);
    if (!len && !probs)
        return 0;
    struct proto_msg m;
    proto_msg_init(&m, PROTO_TOKEN);
    m.id = id;
    m.text = (char *)s;
    m.text_len = (uint32_t)len;
    m.n_tokens = n_tokens;
    m.probs = probs;
    m.n_probs = probs ? 1 : 0;
    int rc = proto_send(w->fd, &m, NULL);
    textout_clear_ready(to);
    return rc;
}

static void free_probs(struct token_probs *p)
{
    free(p->chosen.piece);
    for (uint32_t k = 0; k < p->n_top; k++)
        free(p->top[k].piece);
    free(p->top);
    memset(p, 0, sizeof *p);
}

int worker_generate(struct worker *w, struct proto_msg *req, struct gen_stats *st, struct err *e)
{
    struct gen_params *p = &req->gen;
    int rc = gen_params_validate(p, e);
    if (rc)
        return rc;
    if (llama_pooling_type(w->ctx) != LLAMA_POOLING_TYPE_NONE)
        return err_set(e, ERR_BAD_REQUEST,
                       "this is an embedding model: it makes embeddings, not text");
    struct tokvec toks = {0};
    rc = build_prompt(w, req, &toks, e);
    if (!rc)
        rc = fit_context(w, req, &toks, st, e);
    if (rc) {
        tokvec_free(&toks);
        return rc;
    }
    int32_t n = (int32_t)toks.n;

    struct sampler smpl;
    rc = sampler_init(&smpl, w->model, p, w->n_ctx, e);
    if (rc) {
        tokvec_free(&toks);
        return rc;
    }
    /* Penalties look at the prompt too, as in llama-server. */
    for (int32_t i = 0; i < n; i++)
        sampler_accept_prompt(&smpl, toks.v[i]);

    struct textout to;
    textout_init(&to, p->stop.v, p->stop.n);
    struct gen_state g = {req->id, 0, 0};
    /* Prefix cache: keep what the context already holds of this prompt and compute the rest.
     * At least the last prompt token is computed again, for its logits. A long prompt the
     * context would lose is saved first, and a longer saved prefix is restored. */
    size_t reuse = 0;
    while (reuse < w->cached.n && reuse < toks.n && w->cached.v[reuse] == toks.v[reuse])
        reuse++;
    if (reuse < w->cached.n / 2)
        kvcache_save(w);
    /* The disk only helps when the context misses a good part of a long prompt. */
    if (reuse + 1 < toks.n && toks.n >= 32) {
        size_t restored = kvcache_restore(w, &toks);
        if (restored > reuse)
            reuse = restored;
    }
    if (reuse >= toks.n)
        reuse = toks.n - 1;
    llama_memory_t mem = llama_get_memory(w->ctx);
    if (reuse == 0 || !llama_memory_seq_rm(mem, 0, (llama_pos)reuse, -1)) {
        llama_memory_clear(mem, true); /* a model whose memory cannot be cut (recurrent) */
        reuse = 0;
    }
    w->cached.n = reuse;
    st->prompt_cached = (uint32_t)reuse;
    bool want_probs = (req->flags & PROTO_GEN_LOGPROBS) != 0;
    /* Text generated from BOS alone starts the document: SentencePiece vocabularies mark its
     * first word with the space prefix they add when tokenizing, which is not text. */
    bool from_bos =
        req->prompt[0] == '\0' && req->n_prefix_tokens == 0 && !(req->flags & PROTO_GEN_SUFFIX);

    int64_t t0 = now_us();
    st->prompt_n = (uint32_t)n;
    size_t in_kv = reuse; /* tokens of toks whose keys and values are in the context */
    for (int32_t i = (int32_t)reuse; i < n && !g.cancelled; i += (int32_t)w->n_batch) {
        int32_t chunk = n - i < (int32_t)w->n_batch ? n - i : (int32_t)w->n_batch;
        if (llama_decode(w->ctx, llama_batch_get_one(toks.v + i, chunk))) {
            rc = err_set(e, ERR_INTERNAL, "llama_decode failed on the prompt: %s",
                         engine_last_llama_error());
            goto out;
        }
        in_kv = (size_t)i + (size_t)chunk;
        poll_parent(w, &g);
    }
    int64_t t1 = now_us();
    st->prompt_us = t1 - t0;

    st->stop_reason = PROTO_STOP_LENGTH;
    while (!g.cancelled) {
        if (p->num_predict >= 0 && st->gen_n >= (uint32_t)p->num_predict) {
            st->stop_reason = PROTO_STOP_LENGTH;
            break;
        }
        if (toks.n >= w->n_ctx && p->context_shift &&
            llama_memory_can_shift(llama_get_memory(w->ctx)) && in_kv == toks.n) {
            /* Context shift, as llama-server does it: keep num_keep tokens, drop the oldest half
             * of the rest, and move the remainder back so generation can go on. */
            size_t keep = (size_t)p->num_keep < toks.n / 2 ? (size_t)p->num_keep : toks.n / 2;
            size_t drop = (toks.n - keep) / 2;
            llama_memory_t m = llama_get_memory(w->ctx);
            if (drop && llama_memory_seq_rm(m, 0, (llama_pos)keep, (llama_pos)(keep + drop))) {
                llama_memory_seq_add(m, 0, (llama_pos)(keep + drop), -1, -(llama_pos)drop);
                memmove(toks.v + keep, toks.v + keep + drop,
                        (toks.n - keep - drop) * sizeof *toks.v);
                toks.n -= drop;
                in_kv = toks.n;
                st->shifted += (uint32_t)drop;
            }
        }
        if (toks.n >= w->n_ctx) {
            st->stop_reason = PROTO_STOP_CONTEXT;
            break;
        }
        llama_token tok = sampler_sample(&smpl, w->ctx, -1);
        if (llama_vocab_is_eog(w->vocab, tok) && !p->ignore_eos) {
            st->stop_reason = PROTO_STOP_EOS;
            break;
        }
        st->gen_n++;
        if (w->fault_abort_after >= 0 && st->gen_n > (uint32_t)w->fault_abort_after)
            abort();
        struct token_probs probs = {0};
        if (want_probs)
            compute_probs(w, tok, req->top_logprobs, &probs);
        int32_t lstrip = from_bos && st->gen_n == 1 ? 1 : 0;
        char piece[256];
        int32_t pn = llama_token_to_piece(w->vocab, tok, piece, sizeof piece, lstrip, false);
        if (pn < 0)
            pn = 0; /* a piece longer than 256 bytes does not occur in real vocabularies */
        bool stopped = textout_feed(&to, piece, (size_t)pn);
        int sent = send_token(w, req->id, &to, 1, want_probs ? &probs : NULL);
        free_probs(&probs);
        if (sent) {
            g.peer_gone = 1;
            break;
        }
        tokvec_push(&toks, tok);
        if (stopped) {
            st->stop_reason = PROTO_STOP_STRING;
            st->stop_string = xstrdup(to.stops[to.stop_index]);
            break;
        }
        if (llama_decode(w->ctx, llama_batch_get_one(&tok, 1))) {
            rc = err_set(e, ERR_INTERNAL, "llama_decode failed: %s", engine_last_llama_error());
            goto out;
        }
        in_kv = toks.n;
        poll_parent(w, &g);
    }
    if (g.cancelled)
        st->stop_reason = PROTO_STOP_CANCELLED;
    if (st->stop_reason != PROTO_STOP_STRING) {
        textout_finish(&to);
        if (!g.peer_gone && send_token(w, req->id, &to, 0, NULL))
            g.peer_gone = 1;
    }
    st->gen_us = now_us() - t1;
    /* What the context holds now is the prefix cache of the next request. */
    w->cached.n = 0;
    for (size_t i = 0; i < in_kv && i < toks.n; i++)
        tokvec_push(&w->cached, toks.v[i]);
    if (req->flags & PROTO_GEN_RETURN_TOKENS) {
        st->context = toks.v;
        st->n_context = (uint32_t)toks.n;
        toks.v = NULL;
    }
    if (g.peer_gone)
        rc = err_set(e, ERR_WORKER_DIED, "parent went away");
out:
    if (rc && rc != ERR_WORKER_DIED) { /* a failed decode leaves the context unknown */
        llama_memory_clear(llama_get_memory(w->ctx), true);
        w->cached.n = 0;
    }
    textout_free(&to);
    sampler_free(&smpl);
    tokvec_free(&toks);
    return rc;
}
