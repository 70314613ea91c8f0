/* GENERATE in the worker, with continuous batching.
 *
 * A request's prompt is built and checked when it arrives (prefix tokens, fill-in-the-middle,
 * truncation) and queued. A free slot takes it: the slot whose sequence already holds the
 * longest prefix of the prompt (only the rest is computed), else the least recently used one.
 * Every step then puts the next token of each generating slot and a chunk of each prompt into
 * one llama_decode, and samples, detokenizes and streams each slot whose logits came out. */
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
                       uint32_t *truncated, struct err *e)
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
    *truncated = (uint32_t)drop;
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
static void compute_probs(struct worker *w, int32_t idx, llama_token chosen, uint32_t n_top,
                          struct token_probs *out)
{
    const float *logits = llama_get_logits_ith(w->ctx, idx);
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
    int rc = out_send(w, &m);
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

/* ---- the queue ---- */

static int send_error(struct worker *w, uint64_t id, int code, const char *msg)
{
    return out_error(w, id, code, msg);
}

int worker_enqueue(struct worker *w, struct proto_msg *req)
{
    struct err e = {0};
    struct pending *p = xcalloc(1, sizeof *p);
    int rc = 0;
    if (w->n_pending >= WORKER_MAX_PENDING)
        rc = err_set(&e, ERR_UNAVAILABLE, "the model has %d requests queued already", w->n_pending);
    if (!rc && req->type == PROTO_GENERATE) {
        rc = gen_params_validate(&req->gen, &e);
        if (!rc && llama_pooling_type(w->ctx) != LLAMA_POOLING_TYPE_NONE)
            rc = err_set(&e, ERR_BAD_REQUEST,
                         "this is an embedding model: it makes embeddings, not text");
        if (!rc)
            rc = build_prompt(w, req, &p->toks, &e);
        if (!rc)
            rc = fit_context(w, req, &p->toks, &p->truncated, &e);
    }
    if (rc) {
        tokvec_free(&p->toks);
        free(p);
        rc = send_error(w, req->id, rc, e.msg);
        proto_msg_free(req);
        return rc;
    }
    p->req = *req;
    proto_msg_init(req, 0);
    if (!w->pending_tail)
        w->pending_tail = &w->pending;
    *w->pending_tail = p;
    w->pending_tail = &p->next;
    w->n_pending++;
    return 0;
}

static struct pending *pop_pending(struct worker *w)
{
    struct pending *p = w->pending;
    if (!p)
        return NULL;
    w->pending = p->next;
    if (!w->pending)
        w->pending_tail = &w->pending;
    w->n_pending--;
    p->next = NULL;
    return p;
}

static void pending_free(struct pending *p)
{
    proto_msg_free(&p->req);
    tokvec_free(&p->toks);
    free(p);
}

void worker_cancel(struct worker *w, uint64_t id)
{
    for (int i = 0; i < w->n_slots; i++)
        if (w->slots[i].state != SLOT_IDLE && w->slots[i].req.id == id)
            w->slots[i].cancelled = true;
    for (struct pending **pp = &w->pending; *pp; pp = &(*pp)->next) {
        struct pending *p = *pp;
        if (p->req.id != id)
            continue;
        *pp = p->next;
        if (w->pending_tail == &p->next)
            w->pending_tail = pp;
        w->n_pending--;
        /* Never started: it ends at once, as a cancelled request with nothing generated. */
        struct proto_msg done;
        proto_msg_init(&done, p->req.type == PROTO_GENERATE ? PROTO_DONE : PROTO_ERROR);
        done.id = id;
        done.stats.stop_reason = PROTO_STOP_CANCELLED;
        done.code = ERR_CANCELLED;
        done.message = xstrdup("cancelled");
        out_send(w, &done);
        proto_msg_free(&done);
        pending_free(p);
        return;
    }
}

size_t worker_pending_prompt(const struct worker *w)
{
    size_t n = 0;
    for (const struct pending *p = w->pending; p; p = p->next)
        n += p->toks.n;
    return n;
}

bool worker_has_work(const struct worker *w)
{
    bool idle = false;
    for (int i = 0; i < w->n_slots; i++) {
        if (w->slots[i].state != SLOT_IDLE)
            return true;
        idle = true;
    }
    return idle && w->pending;
}

/* ---- slots ---- */

static size_t shared_prefix(const struct slot *s, const struct tokvec *prompt)
{
    size_t n = 0;
    while (n < s->n_past && n < prompt->n && s->toks.v[n] == prompt->v[n])
        n++;
    return n;
}

/* The idle slot for a prompt. Each is scored by the prompt tokens it already holds (computing
 * them again is the cost saved) minus a sixteenth of the tokens it would lose (they go to the
 * prompt cache, from which they come back for a copy, not a computation): the slot of the same
 * conversation wins, a prompt that shares only a BOS with a long conversation goes to an empty
 * slot instead of evicting it, and with no empty slot the one that loses least is taken. Ties go
 * to the least recently used. */
static struct slot *pick_slot(struct worker *w, const struct tokvec *prompt)
{
    struct slot *best = NULL;
    double best_score = 0;
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_IDLE)
            continue;
        size_t n = prompt ? shared_prefix(s, prompt) : 0;
        double score = (double)n - (double)(s->n_past - n) / 16.0;
        if (!best || score > best_score ||
            (score == best_score && s->last_used < best->last_used)) {
            best = s;
            best_score = score;
        }
    }
    return best;
}

static void slot_clear(struct worker *w, struct slot *s)
{
    llama_memory_seq_rm(llama_get_memory(w->ctx), s->seq, -1, -1);
    s->toks.n = 0;
    s->n_past = 0;
}

/* Sends the last held text and DONE, and makes the slot idle; what its sequence holds stays
 * for the prefix cache. */
static int slot_finish(struct worker *w, struct slot *s, int reason)
{
    struct gen_stats *st = &s->st;
    st->stop_reason = (uint32_t)(s->cancelled ? PROTO_STOP_CANCELLED : reason);
    if (reason != PROTO_STOP_STRING) {
        textout_finish(&s->to);
        if (!w->peer_gone && send_token(w, s->req.id, &s->to, 0, NULL))
            w->peer_gone = 1;
    }
    if (s->state == SLOT_PROMPT)
        st->prompt_us = now_us() - s->t_start;
    else
        st->gen_us = now_us() - s->t_prompt_done;
    if (s->req.flags & PROTO_GEN_RETURN_TOKENS) {
        st->context = xcalloc(s->toks.n ? s->toks.n : 1, sizeof *st->context);
        memcpy(st->context, s->toks.v, s->toks.n * sizeof *st->context);
        st->n_context = (uint32_t)s->toks.n;
    }
    struct proto_msg done;
    proto_msg_init(&done, PROTO_DONE);
    done.id = s->req.id;
    done.stats = *st;
    out_send(w, &done);
    proto_msg_free(&done); /* frees the stop string and context */
    memset(st, 0, sizeof *st);
    textout_free(&s->to);
    sampler_free(&s->smpl);
    proto_msg_free(&s->req);
    s->toks.n = s->n_past;
    s->state = SLOT_IDLE;
    s->cancelled = false;
    s->i_batch = -1;
    s->last_used = now_us();
    return w->peer_gone ? ERR_WORKER_DIED : 0;
}

/* Ends a request with an error; the slot's sequence is emptied (its contents are unknown). */
static int slot_fail(struct worker *w, struct slot *s, int code, const char *msg)
{
    int rc = send_error(w, s->req.id, code, msg);
    textout_free(&s->to);
    sampler_free(&s->smpl);
    proto_msg_free(&s->req);
    memset(&s->st, 0, sizeof s->st);
    slot_clear(w, s);
    s->state = SLOT_IDLE;
    s->cancelled = false;
    s->i_batch = -1;
    s->last_used = now_us();
    return rc;
}

/* Puts a queued GENERATE into slot s: keeps what the sequence holds of the prompt (saving a
 * long cache the prompt does not share to disk first, and restoring a longer saved prefix from
 * disk), then leaves the rest of the prompt for the steps to compute. */
static int slot_start(struct worker *w, struct slot *s, struct pending *p)
{
    struct err e = {0};
    int64_t t0 = now_us();
    int rc = sampler_init(&s->smpl, w->model, &p->req.gen, w->n_ctx, &e);
    if (rc) {
        rc = send_error(w, p->req.id, rc, e.msg);
        pending_free(p);
        return rc;
    }
    /* Penalties look at the prompt too, as in llama-server. */
    for (size_t i = 0; i < p->toks.n; i++)
        sampler_accept_prompt(&s->smpl, p->toks.v[i]);

    bool no_cache = (p->req.flags & PROTO_GEN_NO_CACHE) != 0;
    size_t reuse = no_cache ? 0 : shared_prefix(s, &p->toks);
    int64_t t1 = now_us();
    if (s->n_past - reuse >= 32) /* what the new prompt does not share goes to the cache */
        kvcache_save(w, s, false);
    int64_t t2 = now_us();
    /* The disk only helps when the sequence misses a good part of a long prompt. */
    if (!no_cache && reuse + 1 < p->toks.n && p->toks.n >= 32) {
        size_t restored = kvcache_restore(w, s, &p->toks, reuse);
        if (restored > reuse)
            reuse = restored;
        else if (reuse > s->n_past)
            reuse = s->n_past; /* a damaged file emptied the sequence */
    }
    log_debug("msg=\"slot start\" slot=%d sampler_us=%lld save_us=%lld restore_us=%lld", s->seq,
              (long long)(t1 - t0), (long long)(t2 - t1), (long long)(now_us() - t2));
    if (reuse >= p->toks.n)
        reuse = p->toks.n - 1; /* the last prompt token is computed again, for its logits */
    if (reuse == 0 ||
        !llama_memory_seq_rm(llama_get_memory(w->ctx), s->seq, (llama_pos)reuse, -1)) {
        slot_clear(w, s); /* a model whose memory cannot be cut (recurrent) */
        reuse = 0;
    }
    uint32_t truncated = p->truncated;
    tokvec_free(&s->toks);
    s->toks = p->toks;
    memset(&p->toks, 0, sizeof p->toks);
    s->n_past = reuse;
    s->req = p->req;
    proto_msg_init(&p->req, 0);
    pending_free(p);

    memset(&s->st, 0, sizeof s->st);
    s->st.prompt_n = (uint32_t)s->toks.n;
    s->st.prompt_cached = (uint32_t)reuse;
    s->st.truncated = truncated;
    textout_init(&s->to, s->req.gen.stop.v, s->req.gen.stop.n);
    s->want_probs = (s->req.flags & PROTO_GEN_LOGPROBS) != 0;
    /* Text generated from BOS alone starts the document: SentencePiece vocabularies mark its
     * first word with the space prefix they add when tokenizing, which is not text. */
    s->from_bos = s->req.prompt && s->req.prompt[0] == '\0' && s->req.n_prefix_tokens == 0 &&
                  !(s->req.flags & PROTO_GEN_SUFFIX);
    /* Not under a grammar: forced text the grammar does not allow would break its state. */
    s->think_open = s->req.gen.reasoning_budget >= 0 && s->req.gen.reasoning_end &&
                    s->req.gen.reasoning_end[0] && !(s->req.gen.grammar && s->req.gen.grammar[0]);
    s->think_tail[0] = '\0';
    s->n_forced = s->i_forced = 0;
    s->t_start = now_us();
    s->t_prompt_done = 0;
    s->cancelled = false;
    s->i_batch = -1;
    s->state = SLOT_PROMPT;
    return 0;
}

/* EMBED on a generative model borrows an idle slot's sequence for the time it takes. */
static int slot_embed(struct worker *w, struct slot *s, struct pending *p)
{
    struct proto_msg out;
    proto_msg_init(&out, PROTO_EMBEDDING);
    out.id = p->req.id;
    struct err e = {0};
    kvcache_save(w, s, false);
    slot_clear(w, s);
    int rc = worker_embed(w, s->seq, &p->req, &out, &e);
    slot_clear(w, s);
    s->last_used = now_us();
    if (rc)
        rc = send_error(w, p->req.id, rc, e.msg);
    else
        rc = out_send(w, &out);
    proto_msg_free(&out);
    pending_free(p);
    return rc;
}

/* Context shift, as llama-server does it: keep num_keep tokens, drop the oldest half of the
 * rest, and move the remainder back so generation can go on. */
static void slot_shift(struct worker *w, struct slot *s)
{
    size_t n = s->toks.n;
    size_t keep = (size_t)s->req.gen.num_keep < n / 2 ? (size_t)s->req.gen.num_keep : n / 2;
    size_t drop = (n - keep) / 2;
    llama_memory_t m = llama_get_memory(w->ctx);
    if (!drop || !llama_memory_seq_rm(m, s->seq, (llama_pos)keep, (llama_pos)(keep + drop)))
        return;
    llama_memory_seq_add(m, s->seq, (llama_pos)(keep + drop), -1, -(llama_pos)drop);
    memmove(s->toks.v + keep, s->toks.v + keep + drop, (n - keep - drop) * sizeof *s->toks.v);
    s->toks.n -= drop;
    s->n_past = s->toks.n;
    s->st.shifted += (uint32_t)drop;
}

/* The slot's logits are out (row s->i_batch): stop, or sample and stream the next token. */
static int slot_next(struct worker *w, struct slot *s)
{
    const struct gen_params *p = &s->req.gen;
    struct gen_stats *st = &s->st;
    if (p->num_predict >= 0 && st->gen_n >= (uint32_t)p->num_predict)
        return slot_finish(w, s, PROTO_STOP_LENGTH);
    if (s->toks.n >= w->n_ctx && p->context_shift &&
        llama_memory_can_shift(llama_get_memory(w->ctx)))
        slot_shift(w, s);
    if (s->toks.n >= w->n_ctx)
        return slot_finish(w, s, PROTO_STOP_CONTEXT);
    /* The reasoning budget is spent and the model is still thinking: its closing text comes
     * next, token by token, instead of samples. */
    if (s->think_open && s->n_forced == 0 && st->gen_n >= (uint32_t)p->reasoning_budget) {
        int32_t n = llama_tokenize(w->vocab, p->reasoning_end, (int32_t)strlen(p->reasoning_end),
                                   s->forced, (int32_t)ARRAY_LEN(s->forced), false, true);
        s->n_forced = n > 0 ? n : 0;
        s->i_forced = 0;
        s->think_open = false;
    }
    llama_token tok;
    if (s->i_forced < s->n_forced) {
        tok = s->forced[s->i_forced++];
        sampler_accept_forced(&s->smpl, tok);
    } else {
        tok = sampler_sample(&s->smpl, w->ctx, s->i_batch);
    }
    if (llama_vocab_is_eog(w->vocab, tok) && !p->ignore_eos)
        return slot_finish(w, s, PROTO_STOP_EOS);
    st->gen_n++;
    if (w->fault_abort_after >= 0 && st->gen_n > (uint32_t)w->fault_abort_after)
        abort();
    struct token_probs probs = {0};
    if (s->want_probs)
        compute_probs(w, s->i_batch, tok, s->req.top_logprobs, &probs);
    int32_t lstrip = s->from_bos && st->gen_n == 1 ? 1 : 0;
    char piece[256];
    int32_t pn = llama_token_to_piece(w->vocab, tok, piece, sizeof piece, lstrip,
                                      (s->req.flags & PROTO_GEN_RENDER_SPECIAL) != 0);
    if (pn < 0)
        pn = 0;          /* a piece longer than 256 bytes does not occur in real vocabularies */
    if (s->think_open) { /* did the model close its reasoning itself? */
        size_t have = strlen(s->think_tail), end = strlen(p->reasoning_end);
        size_t add = (size_t)pn < sizeof s->think_tail - 1 ? (size_t)pn : sizeof s->think_tail - 1;
        if (have + add >= sizeof s->think_tail) {
            size_t drop = have + add - (sizeof s->think_tail - 1);
            memmove(s->think_tail, s->think_tail + drop, have - drop + 1);
            have -= drop;
        }
        memcpy(s->think_tail + have, piece + pn - add, add);
        s->think_tail[have + add] = '\0';
        /* The closing tag alone counts ("</think>" of "\n</think>\n\n"). */
        const char *tag = p->reasoning_end + strspn(p->reasoning_end, "\n ");
        size_t tl = strcspn(tag, "\n");
        if (tl && tl <= end && memmem(s->think_tail, have + add, tag, tl))
            s->think_open = false;
    }
    bool stopped = textout_feed(&s->to, piece, (size_t)pn);
    int sent = send_token(w, s->req.id, &s->to, 1, s->want_probs ? &probs : NULL);
    free_probs(&probs);
    if (sent) {
        w->peer_gone = 1;
        return ERR_WORKER_DIED;
    }
    tokvec_push(&s->toks, tok);
    if (stopped) {
        st->stop_string = xstrdup(s->to.stops[s->to.stop_index]);
        return slot_finish(w, s, PROTO_STOP_STRING);
    }
    /* The last token asked for ends the request now: computing its keys and values would cost
     * a whole step that nobody reads. */
    if (p->num_predict >= 0 && st->gen_n >= (uint32_t)p->num_predict)
        return slot_finish(w, s, PROTO_STOP_LENGTH);
    return 0;
}

/* Gives queued requests the free slots, in arrival order. */
static int assign(struct worker *w)
{
    while (w->pending) {
        struct slot *s = NULL;
        for (int i = 0; i < w->n_slots && !s; i++)
            if (w->slots[i].state == SLOT_IDLE)
                s = &w->slots[i];
        if (!s)
            return 0;
        struct pending *p = pop_pending(w);
        bool cache = p->req.type == PROTO_GENERATE && !(p->req.flags & PROTO_GEN_NO_CACHE);
        s = pick_slot(w, cache ? &p->toks : NULL);
        int rc = p->req.type == PROTO_EMBED ? slot_embed(w, s, p) : slot_start(w, s, p);
        if (rc)
            return rc;
    }
    return 0;
}

static void batch_add(struct llama_batch *b, llama_token tok, size_t pos, int seq, bool logits)
{
    int32_t i = b->n_tokens++;
    b->token[i] = tok;
    b->pos[i] = (llama_pos)pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
}

/* What the prompt tokens of a step may cost while other slots generate: a pause this short in
 * their streams goes unnoticed. */
#define STEP_PROMPT_US 100000.0

int worker_step(struct worker *w)
{
    int rc = assign(w);
    if (rc)
        return rc;
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_IDLE && s->cancelled && (rc = slot_finish(w, s, 0)))
            return rc;
    }

    /* Generating slots first: one token each. */
    struct llama_batch *b = &w->batch;
    b->n_tokens = 0;
    size_t n_step[256] = {0}; /* tokens each slot puts in this step (num_parallel <= 256) */
    int n_gen = 0;
    for (int i = 0; i < w->n_slots; i++)
        w->slots[i].i_batch = -1;
    for (int i = 0; i < w->n_slots && b->n_tokens < (int32_t)w->n_batch; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_GEN)
            continue;
        s->i_batch = b->n_tokens;
        batch_add(b, s->toks.v[s->n_past], s->n_past, s->seq, true);
        n_step[i] = 1;
        n_gen++;
    }
    /* Then prompts, oldest request first. While other slots generate, a step takes at most a
     * quarter of a micro-batch of prompt tokens, or as many as cost STEP_PROMPT_US where prompt
     * tokens are cheap (a GPU), so their tokens keep coming while a long prompt is read and a
     * crowd of new requests still starts within a step or two. */
    int32_t budget = (int32_t)w->n_batch - b->n_tokens;
    int32_t cap = (int32_t)w->n_ubatch / 4 > 32 ? (int32_t)w->n_ubatch / 4 : 32;
    if (w->prompt_us_per_token > 0 && STEP_PROMPT_US / w->prompt_us_per_token > cap)
        cap = STEP_PROMPT_US / w->prompt_us_per_token < budget
                  ? (int32_t)(STEP_PROMPT_US / w->prompt_us_per_token)
                  : budget;
    if (n_gen && budget > cap)
        budget = cap;
    for (;;) {
        struct slot *next = NULL;
        int idx = -1;
        for (int i = 0; i < w->n_slots; i++) {
            struct slot *s = &w->slots[i];
            if (s->state == SLOT_PROMPT && !n_step[i] && (!next || s->t_start < next->t_start)) {
                next = s;
                idx = i;
            }
        }
        if (!next || budget <= 0)
            break;
        size_t left = next->toks.n - next->n_past;
        size_t k = left < (size_t)budget ? left : (size_t)budget;
        for (size_t j = 0; j < k; j++) {
            bool last = next->n_past + j + 1 == next->toks.n;
            if (last)
                next->i_batch = b->n_tokens;
            batch_add(b, next->toks.v[next->n_past + j], next->n_past + j, next->seq, last);
        }
        n_step[idx] = k;
        budget -= (int32_t)k;
    }
    if (b->n_tokens == 0)
        return 0;

    int64_t t_decode = now_us();
    int dr = llama_decode(w->ctx, *b);
    if (dr != 0) {
        char msg[600];
        snprintf(msg, sizeof msg, "llama_decode failed (%d): %s", dr, engine_last_llama_error());
        log_error("msg=%s tokens=%d", log_q(msg), b->n_tokens);
        for (int i = 0; i < w->n_slots; i++)
            if (n_step[i] && (rc = slot_fail(w, &w->slots[i], ERR_INTERNAL, msg)))
                return rc;
        return 0;
    }
    int64_t now = now_us();
    if (b->n_tokens - n_gen >= 16) { /* a step that read prompts: what a prompt token costs */
        double per = (double)(now - t_decode) / b->n_tokens;
        w->prompt_us_per_token =
            w->prompt_us_per_token > 0 ? 0.7 * w->prompt_us_per_token + 0.3 * per : per;
    }
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        s->n_past += n_step[i];
        if (s->i_batch < 0)
            continue;
        if (s->state == SLOT_PROMPT) {
            s->state = SLOT_GEN;
            s->t_prompt_done = now;
            s->st.prompt_us = now - s->t_start;
        }
        if ((rc = slot_next(w, s)))
            return rc;
    }
    return 0;
}

void worker_slots_info(const struct worker *w, struct proto_msg *out)
{
    out->n_queued = (uint32_t)w->n_pending;
    out->n_slots = (uint32_t)w->n_slots;
    out->slots = xcalloc((size_t)w->n_slots, sizeof *out->slots);
    for (int i = 0; i < w->n_slots; i++) {
        const struct slot *s = &w->slots[i];
        struct slot_info *o = &out->slots[i];
        o->state = s->state == SLOT_PROMPT ? PROTO_SLOT_PROMPT
                   : s->state == SLOT_GEN  ? PROTO_SLOT_GENERATING
                                           : PROTO_SLOT_IDLE;
        o->task = s->state == SLOT_IDLE ? 0 : s->req.id;
        o->n_ctx = w->n_ctx;
        o->n_past = (uint32_t)s->n_past;
        o->n_prompt = s->state == SLOT_IDLE ? 0 : s->st.prompt_n;
        o->n_decoded = s->state == SLOT_IDLE ? 0 : s->st.gen_n;
    }
}

void worker_slots_free(struct worker *w)
{
    for (int i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_IDLE) {
            textout_free(&s->to);
            sampler_free(&s->smpl);
            proto_msg_free(&s->req);
            s->toks.n = s->n_past;
            s->state = SLOT_IDLE;
        }
    }
    struct pending *p;
    while ((p = pop_pending(w)))
        pending_free(p);
}
