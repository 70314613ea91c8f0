#include "engine/proto.h"

#include "base/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *proto_stop_reason_name(int reason)
{
    switch (reason) {
    case PROTO_STOP_EOS: return "stop";
    case PROTO_STOP_STRING: return "stop";
    case PROTO_STOP_LENGTH: return "length";
    case PROTO_STOP_CONTEXT: return "context";
    case PROTO_STOP_CANCELLED: return "cancelled";
    default: return "unknown";
    }
}

void proto_msg_init(struct proto_msg *m, enum proto_type type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
}

void proto_msg_free(struct proto_msg *m)
{
    if (!m)
        return;
    free(m->path);
    load_params_free(&m->load);
    free(m->info.desc);
    free(m->info.chat_template);
    free(m->prompt);
    free(m->suffix);
    free(m->prefix_tokens);
    gen_params_free(&m->gen);
    free(m->text);
    for (uint32_t i = 0; i < m->n_probs; i++) {
        free(m->probs[i].chosen.piece);
        for (uint32_t k = 0; k < m->probs[i].n_top; k++)
            free(m->probs[i].top[k].piece);
        free(m->probs[i].top);
    }
    free(m->probs);
    strlist_free(&m->inputs);
    free(m->embeddings);
    free(m->stats.stop_string);
    free(m->stats.context);
    free(m->message);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- encoding ----
 * The writer is sticky: after the first failed append (the frame cap) every put is skipped, and
 * the caller checks once at the end. */

struct enc {
    struct buf *b;
    int rc;
};

static void put(struct enc *w, const void *p, size_t n)
{
    if (!w->rc)
        w->rc = buf_append(w->b, p, n);
}

static void put_u32(struct enc *w, uint32_t v)
{
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(w, x, 4);
}

static void put_u64(struct enc *w, uint64_t v)
{
    put_u32(w, (uint32_t)v);
    put_u32(w, (uint32_t)(v >> 32));
}

static void put_f32(struct enc *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    put_u32(w, v);
}

static void put_strn(struct enc *w, const char *s, size_t n)
{
    if (!s) {
        put_u32(w, UINT32_MAX);
        return;
    }
    if (n >= UINT32_MAX) {
        w->rc = ERR_TOO_LARGE;
        return;
    }
    put_u32(w, (uint32_t)n);
    put(w, s, n);
}

static void put_str(struct enc *w, const char *s)
{
    put_strn(w, s, s ? strlen(s) : 0);
}

/* str[]: a u32 count and the strings. */
static void put_strs(struct enc *w, const struct strlist *l)
{
    put_u32(w, (uint32_t)l->n);
    for (int k = 0; k < l->n; k++)
        put_str(w, l->v[k]);
}

static void put_i32s(struct enc *w, const int32_t *v, uint32_t n)
{
    put_u32(w, n);
    for (uint32_t i = 0; i < n; i++)
        put_u32(w, (uint32_t)v[i]);
}

static void put_logprob(struct enc *w, const struct token_logprob *t)
{
    put_u32(w, (uint32_t)t->token);
    put_str(w, t->piece);
    put_f32(w, t->logprob);
}

static void put_params(struct enc *w, const void *s, enum param_group g)
{
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n; i++) {
        if (t[i].group != g)
            continue;
        const void *f = (const char *)s + t[i].offset;
        switch (t[i].type) {
        case PARAM_INT: put_u32(w, (uint32_t) * (const int32_t *)f); break;
        case PARAM_I64: put_u64(w, (uint64_t) * (const int64_t *)f); break;
        case PARAM_FLOAT: put_f32(w, *(const float *)f); break;
        case PARAM_BOOL: put_u32(w, *(const bool *)f); break;
        case PARAM_STR: put_str(w, *(char *const *)f); break;
        case PARAM_LIST: put_strs(w, (const struct strlist *)f); break;
        case PARAM_BIAS: {
            const struct gen_params *gp = s;
            put_u32(w, (uint32_t)gp->n_logit_bias);
            for (int k = 0; k < gp->n_logit_bias; k++) {
                put_u32(w, (uint32_t)gp->logit_bias[k].token);
                put_f32(w, gp->logit_bias[k].bias);
            }
            break;
        }
        }
    }
}

int proto_encode(const struct proto_msg *m, struct buf *out)
{
    size_t start = out->len;
    struct enc w = {out, 0};
    unsigned char hdr[8] = {0};
    hdr[4] = (unsigned char)m->type;
    put(&w, hdr, 8);
    switch (m->type) {
    case PROTO_LOAD:
        put_str(&w, m->path);
        put_params(&w, &m->load, PARAM_LOAD);
        break;
    case PROTO_LOADED:
        put_str(&w, m->info.desc);
        put_str(&w, m->info.chat_template);
        put_u32(&w, m->info.n_ctx);
        put_u32(&w, m->info.n_parallel);
        put_u32(&w, m->info.n_ctx_train);
        put_u32(&w, m->info.n_vocab);
        put_u32(&w, m->info.n_embd);
        put_u32(&w, m->info.n_layer);
        put_u64(&w, m->info.n_params);
        put_u64(&w, m->info.size);
        put_u64(&w, (uint64_t)m->info.load_us);
        put_u32(&w, m->info.n_gpu_layers);
        put_u64(&w, m->info.size_vram);
        put_str(&w, m->info.gpu);
        break;
    case PROTO_GENERATE:
        put_u64(&w, m->id);
        put_u32(&w, m->flags);
        put_str(&w, m->prompt);
        put_str(&w, m->suffix);
        put_i32s(&w, m->prefix_tokens, m->n_prefix_tokens);
        put_u32(&w, m->top_logprobs);
        put_params(&w, &m->gen, PARAM_GEN);
        break;
    case PROTO_TOKEN:
        put_u64(&w, m->id);
        put_strn(&w, m->text, m->text_len);
        put_u32(&w, m->n_tokens);
        put_u32(&w, m->n_probs);
        for (uint32_t i = 0; i < m->n_probs; i++) {
            put_logprob(&w, &m->probs[i].chosen);
            put_u32(&w, m->probs[i].n_top);
            for (uint32_t k = 0; k < m->probs[i].n_top; k++)
                put_logprob(&w, &m->probs[i].top[k]);
        }
        break;
    case PROTO_EMBED:
        put_u64(&w, m->id);
        put_u32(&w, m->flags);
        put_u32(&w, m->dimensions);
        put_strs(&w, &m->inputs);
        break;
    case PROTO_EMBEDDING: {
        put_u64(&w, m->id);
        put_u32(&w, m->n_embeddings);
        put_u32(&w, m->embedding_dim);
        size_t n = (size_t)m->n_embeddings * m->embedding_dim;
        put_u32(&w, (uint32_t)n);
        for (size_t i = 0; i < n; i++)
            put_f32(&w, m->embeddings[i]);
        put_u32(&w, m->stats.prompt_n);
        put_u64(&w, (uint64_t)m->stats.prompt_us);
        break;
    }
    case PROTO_DONE:
        put_u64(&w, m->id);
        put_u32(&w, m->stats.stop_reason);
        put_u32(&w, m->stats.prompt_n);
        put_u32(&w, m->stats.prompt_cached);
        put_u32(&w, m->stats.gen_n);
        put_u64(&w, (uint64_t)m->stats.prompt_us);
        put_u64(&w, (uint64_t)m->stats.gen_us);
        put_str(&w, m->stats.stop_string);
        put_u32(&w, m->stats.truncated);
        put_u32(&w, m->stats.shifted);
        put_i32s(&w, m->stats.context, m->stats.n_context);
        break;
    case PROTO_ERROR:
        put_u64(&w, m->id);
        put_u32(&w, (uint32_t)m->code);
        put_str(&w, m->message);
        break;
    case PROTO_CANCEL:
    case PROTO_SLOTS: put_u64(&w, m->id); break;
    case PROTO_SLOTS_INFO:
        put_u64(&w, m->id);
        put_u32(&w, m->n_queued);
        put_u32(&w, m->n_slots);
        for (uint32_t i = 0; i < m->n_slots; i++) {
            put_u32(&w, m->slots[i].state);
            put_u64(&w, m->slots[i].task);
            put_u32(&w, m->slots[i].n_ctx);
            put_u32(&w, m->slots[i].n_past);
            put_u32(&w, m->slots[i].n_prompt);
            put_u32(&w, m->slots[i].n_decoded);
        }
        break;
    case PROTO_TOKENIZE:
        put_u64(&w, m->id);
        put_u32(&w, m->flags);
        put_str(&w, m->prompt);
        break;
    case PROTO_TOKENIZED:
    case PROTO_DETOKENIZE:
        put_u64(&w, m->id);
        put_i32s(&w, m->prefix_tokens, m->n_prefix_tokens);
        if (m->type == PROTO_TOKENIZED) {
            put_strs(&w, &m->inputs);
        }
        break;
    case PROTO_DETOKENIZED:
        put_u64(&w, m->id);
        put_str(&w, m->prompt);
        break;
    default: w.rc = ERR_INTERNAL;
    }
    size_t plen = out->len - start - 8;
    if (!w.rc && plen > PROTO_MAX_FRAME)
        w.rc = ERR_TOO_LARGE;
    if (w.rc) {
        out->len = start;
        out->data[start] = '\0';
        return w.rc;
    }
    unsigned char *h = (unsigned char *)out->data + start;
    h[0] = (unsigned char)plen;
    h[1] = (unsigned char)(plen >> 8);
    h[2] = (unsigned char)(plen >> 16);
    h[3] = (unsigned char)(plen >> 24);
    return 0;
}

/* ---- decoding ---- */

struct cursor {
    const unsigned char *p;
    size_t left;
    int bad;
};

static uint32_t get_u32(struct cursor *c)
{
    if (c->bad || c->left < 4) {
        c->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)c->p[0] | (uint32_t)c->p[1] << 8 | (uint32_t)c->p[2] << 16 |
                 (uint32_t)c->p[3] << 24;
    c->p += 4;
    c->left -= 4;
    return v;
}

static uint64_t get_u64(struct cursor *c)
{
    uint64_t lo = get_u32(c);
    return lo | (uint64_t)get_u32(c) << 32;
}

static float get_f32(struct cursor *c)
{
    uint32_t v = get_u32(c);
    float f;
    memcpy(&f, &v, 4);
    return f;
}

/* Returns a NUL-terminated copy, or NULL for a NULL string; *len gets the length. */
static char *get_str(struct cursor *c, uint32_t *len)
{
    uint32_t n = get_u32(c);
    if (c->bad || n == UINT32_MAX)
        return NULL;
    if (n > c->left) {
        c->bad = 1;
        return NULL;
    }
    char *s = xstrndup((const char *)c->p, n);
    c->p += n;
    c->left -= n;
    if (len)
        *len = n;
    return s;
}

/* An i32 array of at most max values; NULL (and *n = 0) for an empty one. */
static int32_t *get_i32s(struct cursor *c, uint32_t max, uint32_t *n)
{
    uint32_t k = get_u32(c);
    *n = 0;
    if (c->bad || k == 0)
        return NULL;
    if (k > max || k > c->left / 4) {
        c->bad = 1;
        return NULL;
    }
    int32_t *v = xcalloc(k, sizeof *v);
    for (uint32_t i = 0; i < k; i++)
        v[i] = (int32_t)get_u32(c);
    *n = k;
    return v;
}

/* str[] of at most max strings into l (empty before). */
static void get_strs(struct cursor *c, uint32_t max, struct strlist *l)
{
    uint32_t k = get_u32(c);
    if (c->bad || k > max || k > c->left / 4) {
        c->bad = 1;
        return;
    }
    l->v = xcalloc(k ? k : 1, sizeof(char *));
    for (uint32_t i = 0; i < k && !c->bad; i++) {
        char *str = get_str(c, NULL);
        if (!str)
            c->bad = 1;
        else
            l->v[l->n++] = str;
    }
}

static void get_logprob(struct cursor *c, struct token_logprob *t)
{
    t->token = (int32_t)get_u32(c);
    t->piece = get_str(c, NULL);
    t->logprob = get_f32(c);
}

static void get_params(struct cursor *c, void *s, enum param_group g)
{
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n && !c->bad; i++) {
        if (t[i].group != g)
            continue;
        void *f = (char *)s + t[i].offset;
        switch (t[i].type) {
        case PARAM_INT: *(int32_t *)f = (int32_t)get_u32(c); break;
        case PARAM_I64: *(int64_t *)f = (int64_t)get_u64(c); break;
        case PARAM_FLOAT: *(float *)f = get_f32(c); break;
        case PARAM_BOOL: *(bool *)f = get_u32(c) != 0; break;
        case PARAM_STR:
            free(*(char **)f);
            *(char **)f = get_str(c, NULL);
            break;
        case PARAM_LIST: get_strs(c, (uint32_t)t[i].max_count, (struct strlist *)f); break;
        case PARAM_BIAS: {
            struct gen_params *gp = s;
            uint32_t k = get_u32(c);
            if (k > (uint32_t)t[i].max_count || k > c->left / 8) {
                c->bad = 1;
                break;
            }
            gp->logit_bias = xcalloc(k, sizeof *gp->logit_bias);
            gp->n_logit_bias = (int)k;
            for (uint32_t j = 0; j < k; j++) {
                gp->logit_bias[j].token = (int32_t)get_u32(c);
                gp->logit_bias[j].bias = get_f32(c);
            }
            break;
        }
        }
    }
}

int proto_decode(enum proto_type type, const void *payload, size_t len, struct proto_msg *m,
                 struct err *e)
{
    proto_msg_init(m, type);
    struct cursor c = {payload, len, 0};
    switch (type) {
    case PROTO_LOAD:
        m->path = get_str(&c, NULL);
        load_params_init(&m->load);
        load_params_free(&m->load); /* the wire carries every field, strings included */
        get_params(&c, &m->load, PARAM_LOAD);
        if (!m->path)
            c.bad = 1;
        break;
    case PROTO_LOADED: {
        struct model_info *i = &m->info;
        i->desc = get_str(&c, NULL);
        i->chat_template = get_str(&c, NULL);
        i->n_ctx = get_u32(&c);
        i->n_parallel = get_u32(&c);
        i->n_ctx_train = get_u32(&c);
        i->n_vocab = get_u32(&c);
        i->n_embd = get_u32(&c);
        i->n_layer = get_u32(&c);
        i->n_params = get_u64(&c);
        i->size = get_u64(&c);
        i->load_us = (int64_t)get_u64(&c);
        i->n_gpu_layers = get_u32(&c);
        i->size_vram = get_u64(&c);
        char *gpu = get_str(&c, NULL);
        snprintf(i->gpu, sizeof i->gpu, "%s", gpu ? gpu : "");
        free(gpu);
        break;
    }
    case PROTO_GENERATE:
        m->id = get_u64(&c);
        m->flags = get_u32(&c);
        m->prompt = get_str(&c, NULL);
        m->suffix = get_str(&c, NULL);
        m->prefix_tokens = get_i32s(&c, PROTO_MAX_TOKENS, &m->n_prefix_tokens);
        m->top_logprobs = get_u32(&c);
        get_params(&c, &m->gen, PARAM_GEN);
        if (!m->prompt || m->top_logprobs > PROTO_MAX_TOP_LOGPROBS)
            c.bad = 1;
        break;
    case PROTO_TOKEN: {
        m->id = get_u64(&c);
        m->text = get_str(&c, &m->text_len);
        m->n_tokens = get_u32(&c);
        uint32_t np = get_u32(&c);
        if (np > 64 || np > c.left / 12) {
            c.bad = 1;
            break;
        }
        m->probs = xcalloc(np ? np : 1, sizeof *m->probs);
        for (uint32_t i = 0; i < np && !c.bad; i++, m->n_probs++) {
            struct token_probs *tp = &m->probs[i];
            get_logprob(&c, &tp->chosen);
            uint32_t nt = get_u32(&c);
            if (nt > PROTO_MAX_TOP_LOGPROBS) {
                c.bad = 1;
                break;
            }
            tp->top = xcalloc(nt ? nt : 1, sizeof *tp->top);
            for (uint32_t k = 0; k < nt && !c.bad; k++, tp->n_top++)
                get_logprob(&c, &tp->top[k]);
        }
        break;
    }
    case PROTO_EMBED: {
        m->id = get_u64(&c);
        m->flags = get_u32(&c);
        m->dimensions = get_u32(&c);
        get_strs(&c, PROTO_MAX_EMBED_INPUTS, &m->inputs);
        break;
    }
    case PROTO_EMBEDDING: {
        m->id = get_u64(&c);
        m->n_embeddings = get_u32(&c);
        m->embedding_dim = get_u32(&c);
        uint32_t n = get_u32(&c);
        if (c.bad || (uint64_t)m->n_embeddings * m->embedding_dim != n || n > c.left / 4) {
            c.bad = 1;
            break;
        }
        m->embeddings = xcalloc(n ? n : 1, sizeof(float));
        for (uint32_t i = 0; i < n; i++)
            m->embeddings[i] = get_f32(&c);
        m->stats.prompt_n = get_u32(&c);
        m->stats.prompt_us = (int64_t)get_u64(&c);
        break;
    }
    case PROTO_DONE: {
        struct gen_stats *s = &m->stats;
        m->id = get_u64(&c);
        s->stop_reason = get_u32(&c);
        s->prompt_n = get_u32(&c);
        s->prompt_cached = get_u32(&c);
        s->gen_n = get_u32(&c);
        s->prompt_us = (int64_t)get_u64(&c);
        s->gen_us = (int64_t)get_u64(&c);
        s->stop_string = get_str(&c, NULL);
        s->truncated = get_u32(&c);
        s->shifted = get_u32(&c);
        s->context = get_i32s(&c, PROTO_MAX_TOKENS, &s->n_context);
        break;
    }
    case PROTO_ERROR:
        m->id = get_u64(&c);
        m->code = (int32_t)get_u32(&c);
        m->message = get_str(&c, NULL);
        break;
    case PROTO_CANCEL:
    case PROTO_SLOTS: m->id = get_u64(&c); break;
    case PROTO_SLOTS_INFO: {
        m->id = get_u64(&c);
        m->n_queued = get_u32(&c);
        uint32_t n = get_u32(&c);
        if (n > PROTO_MAX_SLOTS || (size_t)n * 28 > c.left) {
            c.bad = 1;
            break;
        }
        m->slots = xcalloc(n ? n : 1, sizeof *m->slots);
        m->n_slots = n;
        for (uint32_t i = 0; i < n; i++) {
            m->slots[i].state = get_u32(&c);
            m->slots[i].task = get_u64(&c);
            m->slots[i].n_ctx = get_u32(&c);
            m->slots[i].n_past = get_u32(&c);
            m->slots[i].n_prompt = get_u32(&c);
            m->slots[i].n_decoded = get_u32(&c);
        }
        break;
    }
    case PROTO_TOKENIZE:
        m->id = get_u64(&c);
        m->flags = get_u32(&c);
        m->prompt = get_str(&c, NULL);
        if (!m->prompt)
            c.bad = 1;
        break;
    case PROTO_TOKENIZED:
    case PROTO_DETOKENIZE: {
        m->id = get_u64(&c);
        m->prefix_tokens = get_i32s(&c, PROTO_MAX_TOKENS, &m->n_prefix_tokens);
        if (type == PROTO_TOKENIZED)
            get_strs(&c, PROTO_MAX_TOKENS, &m->inputs);
        break;
    }
    case PROTO_DETOKENIZED:
        m->id = get_u64(&c);
        m->prompt = get_str(&c, NULL);
        break;
    default: return err_set(e, ERR_PROTOCOL, "unknown message type %d", (int)type);
    }
    if (c.bad)
        return err_set(e, ERR_PROTOCOL, "malformed message of type %d", (int)type);
    if (c.left)
        return err_set(e, ERR_PROTOCOL, "%zu stray bytes after message of type %d", c.left,
                       (int)type);
    return 0;
}

/* ---- socket I/O ---- */

int proto_write(int fd, const void *p, size_t n)
{
    const char *s = p;
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return (errno == EPIPE || errno == ECONNRESET) ? ERR_WORKER_DIED : ERR_IO;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    char *s = p;
    while (n) {
        ssize_t r = read(fd, s, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return errno == ECONNRESET ? ERR_WORKER_DIED : ERR_IO;
        }
        if (r == 0)
            return ERR_WORKER_DIED;
        s += r;
        n -= (size_t)r;
    }
    return 0;
}

int proto_send(int fd, const struct proto_msg *m, struct err *e)
{
    struct buf b;
    buf_init(&b, PROTO_MAX_FRAME + 8);
    int rc = proto_encode(m, &b);
    if (rc) {
        buf_free(&b);
        return err_set(e, rc, "message too large for the worker protocol");
    }
    rc = proto_write(fd, b.data, b.len);
    buf_free(&b);
    if (rc)
        return err_set(e, rc, "%s",
                       rc == ERR_WORKER_DIED ? "peer closed the connection" : strerror(errno));
    return 0;
}

int proto_recv(int fd, struct proto_msg *m, struct err *e)
{
    unsigned char hdr[8];
    proto_msg_init(m, 0);
    int rc = read_all(fd, hdr, 8);
    if (rc)
        return err_set(e, rc, "%s",
                       rc == ERR_WORKER_DIED ? "peer closed the connection" : strerror(errno));
    uint32_t len =
        (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    if (len > PROTO_MAX_FRAME)
        return err_set(e, ERR_PROTOCOL, "frame of %u bytes exceeds the limit", len);
    char *payload = xmalloc(len);
    rc = read_all(fd, payload, len);
    if (rc) {
        free(payload);
        return err_set(e, rc, "peer closed the connection mid-message");
    }
    rc = proto_decode((enum proto_type)hdr[4], payload, len, m, e);
    free(payload);
    return rc;
}

void proto_reader_init(struct proto_reader *r, int fd)
{
    r->fd = fd;
    buf_init(&r->in, (size_t)PROTO_MAX_FRAME + (1u << 20));
    r->pos = 0;
}

void proto_reader_free(struct proto_reader *r)
{
    buf_free(&r->in);
}

int proto_reader_next(struct proto_reader *r, struct proto_msg *m, struct err *e)
{
    proto_msg_init(m, 0);
    size_t avail = r->in.len - r->pos;
    if (avail < 8)
        return 0;
    const unsigned char *h = (const unsigned char *)r->in.data + r->pos;
    uint32_t len =
        (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    if (len > PROTO_MAX_FRAME)
        return err_set(e, ERR_PROTOCOL, "frame of %u bytes exceeds the limit", len);
    if (avail - 8 < len)
        return 0;
    int rc = proto_decode((enum proto_type)h[4], h + 8, len, m, e);
    r->pos += 8 + (size_t)len;
    return rc ? rc : 1;
}

int proto_reader_fill(struct proto_reader *r, int timeout_ms, struct err *e)
{
    if (r->pos) { /* drop what was decoded */
        buf_consume(&r->in, r->pos);
        r->pos = 0;
    }
    struct pollfd pfd = {r->fd, POLLIN, 0};
    int pr;
    do
        pr = poll(&pfd, 1, timeout_ms);
    while (pr < 0 && errno == EINTR);
    if (pr == 0)
        return 1;
    char chunk[65536];
    ssize_t n;
    do
        n = read(r->fd, chunk, sizeof chunk);
    while (n < 0 && errno == EINTR);
    if (n == 0 || (n < 0 && errno == ECONNRESET))
        return err_set(e, ERR_WORKER_DIED, "peer closed the connection");
    if (n < 0)
        return err_set(e, ERR_IO, "%s", strerror(errno));
    if (buf_append(&r->in, chunk, (size_t)n))
        return err_set(e, ERR_PROTOCOL, "a frame exceeds the limit");
    return 0;
}

int proto_send_error(int fd, uint64_t id, int code, const char *message)
{
    struct proto_msg m;
    proto_msg_init(&m, PROTO_ERROR);
    m.id = id;
    m.code = code;
    m.message = (char *)message;
    int rc = proto_send(fd, &m, NULL);
    return rc;
}
