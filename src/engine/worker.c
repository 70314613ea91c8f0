/* `hearth worker`: one process, one model, requests from the parent over the protocol in
 * proto.h. It loads the model into a context of num_parallel slots, then runs one loop: read
 * what the parent sent (new requests queue, cancellations mark their slot), run one decode step
 * over every busy slot (gen.c), repeat; it blocks only when nothing is left to compute.
 */
#include "base/buf.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/util.h"
#include "engine/engine.h"
#include "engine/mfile.h"
#include "engine/offload.h"
#include "engine/proto.h"
#include "engine/worker_int.h"

#include <errno.h>
#include <llama.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- libllama logging ---- */

static _Thread_local char last_llama_error[512];

static void llama_log_cb(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    if (!n)
        return;
    if (level == GGML_LOG_LEVEL_ERROR) {
        snprintf(last_llama_error, sizeof last_llama_error, "%.*s", (int)n, text);
        log_debug("msg=%s src=llama.cpp", log_q(last_llama_error));
    } else if (log_get_level() <= LOG_LEVEL_DEBUG) {
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)n, text);
        log_debug("msg=%s src=llama.cpp", log_q(line));
    }
}

const char *engine_last_llama_error(void)
{
    return last_llama_error;
}

void engine_init_logging(void)
{
    llama_log_set(llama_log_cb, NULL);
}

/* ---- the loaded model ---- */

static enum ggml_type cache_type(const char *name, int *ok)
{
    *ok = 1;
    if (!name || !*name)
        return GGML_TYPE_F16;
    for (int t = 0; t < GGML_TYPE_COUNT; t++) {
        const char *tn = ggml_type_name((enum ggml_type)t);
        if (tn && strcmp(tn, name) == 0 && ggml_type_size((enum ggml_type)t) > 0)
            return (enum ggml_type)t;
    }
    *ok = 0;
    return GGML_TYPE_F16;
}

/* Whether the model pools its outputs into one vector (an embedding or reranking model), from
 * its metadata: llama.h tells the pooling type only once a context exists. */
static bool pooling_model(const struct llama_model *m)
{
    char arch[64], key[128], val[32];
    if (llama_model_meta_val_str(m, "general.architecture", arch, sizeof arch) < 0)
        return false;
    snprintf(key, sizeof key, "%s.pooling_type", arch);
    if (llama_model_meta_val_str(m, key, val, sizeof val) < 0)
        return false;
    return atoi(val) > 0; /* LLAMA_POOLING_TYPE_NONE is 0 */
}

static int load_model(struct worker *w, const struct proto_msg *req, struct model_info *info,
                      struct err *e)
{
    int64_t t0 = now_us();
    const struct load_params *lp = &req->load;
    int rc = load_params_validate(lp, e);
    if (rc)
        return rc;
    int ok_k, ok_v;
    enum ggml_type tk = cache_type(lp->cache_type_k, &ok_k);
    enum ggml_type tv = cache_type(lp->cache_type_v, &ok_v);
    if (!ok_k || !ok_v)
        return err_set(e, ERR_BAD_REQUEST, "unknown KV cache type '%s'",
                       ok_k ? lp->cache_type_v : lp->cache_type_k);

    struct mfile mf;
    rc = mfile_open(req->path, &mf, e);
    if (rc)
        return rc;
    uint64_t base = mf.base; /* non-zero: the GGUF inside a bundle */
    mfile_close(&mf);

    struct llama_model_params mp = llama_model_default_params();
    struct offload_gpu gpus[OFFLOAD_MAX_GPUS];
    int n_gpus = offload_gpus(gpus, OFFLOAD_MAX_GPUS);
    uint64_t free_before = 0;
    for (int i = 0; i < n_gpus; i++)
        free_before += gpus[i].free;
    uint32_t planned_ctx = 0; /* a smaller context the offload plan chose, or 0 */
    if (lp->num_gpu >= 0) {
        mp.n_gpu_layers = lp->num_gpu; /* the user's choice wins */
    } else if (n_gpus == 0) {
        mp.n_gpu_layers = 0;
    } else {
        struct mem_estimate est;
        struct offload_plan plan;
        if ((rc = estimate_model(req->path, lp, &est, e)))
            return rc;
        offload_plan(&est, free_before, lp->num_ctx > 0, &plan);
        mp.n_gpu_layers = plan.n_gpu_layers;
        if (plan.n_ctx < est.n_ctx)
            planned_ctx = plan.n_ctx;
        char fb[32], nb[32];
        log_info("msg=\"offload plan\" gpus=%d free=%s layers=%d/%u n_ctx=%u needs=%s", n_gpus,
                 log_q(estimate_fmt(free_before, fb, sizeof fb)), plan.n_gpu_layers,
                 est.n_layer + 1, plan.n_ctx, log_q(estimate_fmt(plan.vram, nb, sizeof nb)));
    }
    if (n_gpus == 0)
        log_info("msg=\"no GPU found: the model runs on the CPU\"");
    if (lp->use_mmap)
        mp.load_mode = lp->use_mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP;
    else
        mp.load_mode = lp->use_mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE;
    last_llama_error[0] = '\0';
    if (base) {
        /* A bundle: libllama reads the GGUF from the stream's position and maps the weights
         * at their offsets in the whole file (bundle.h keeps them aligned). The mapping
         * outlives the stream. */
        FILE *fp = fopen(req->path, "rb");
        if (!fp)
            return err_set(e, ERR_IO, "%s: %s", req->path, strerror(errno));
        if (fseeko(fp, (off_t)base, SEEK_SET) == 0)
            w->model = llama_model_load_from_file_ptr(fp, mp);
        fclose(fp);
    } else {
        w->model = llama_model_load_from_file(req->path, mp);
    }
    if (!w->model)
        return err_set(e, ERR_BAD_MODEL, "llama.cpp could not load %s: %s", req->path,
                       last_llama_error[0] ? last_llama_error : "see the log for details");

    int32_t n_train = llama_model_n_ctx_train(w->model);
    struct llama_context_params cp = llama_context_default_params();
    uint32_t n_ctx = (uint32_t)lp->num_ctx;
    if (n_ctx == 0)
        n_ctx = n_train > 0 && n_train < 4096 ? (uint32_t)n_train : 4096;
    if (planned_ctx && planned_ctx < n_ctx) {
        log_warn("msg=\"context reduced to fit the GPU\" n_ctx=%u asked=%u", planned_ctx, n_ctx);
        n_ctx = planned_ctx;
    }
    /* Each slot gets num_ctx tokens of KV cache (Ollama's sizing: a request gets the context it
     * asked for however many others run). An embedding model computes one input at a time, so it
     * gets one slot. */
    int n_slots = lp->num_parallel > 0 ? lp->num_parallel : 1;
    if (pooling_model(w->model))
        n_slots = 1;
    if ((uint64_t)n_ctx * (uint64_t)n_slots > (1u << 24))
        return err_set(e, ERR_BAD_REQUEST,
                       "num_ctx %u times num_parallel %d is more than 16M tokens of context", n_ctx,
                       n_slots);
    cp.n_ctx = n_ctx * (uint32_t)n_slots;
    cp.n_batch = (uint32_t)lp->num_batch;
    cp.n_ubatch = (uint32_t)(lp->num_ubatch < lp->num_batch ? lp->num_ubatch : lp->num_batch);
    cp.n_seq_max = (uint32_t)n_slots;
    /* One KV stream per slot, not one unified cache: attention then reads only the slot's own
     * cells, where in a unified cache every slot's step reads up to the highest cell any slot
     * uses (a short request beside a long conversation would pay for the conversation). */
    cp.kv_unified = false;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cp.n_threads = lp->num_thread > 0 ? lp->num_thread : (int32_t)(ncpu > 0 ? ncpu : 4);
    cp.n_threads_batch = cp.n_threads;
    cp.flash_attn_type = lp->flash_attn == FLASH_ATTN_ON    ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                         : lp->flash_attn == FLASH_ATTN_OFF ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                                            : LLAMA_FLASH_ATTN_TYPE_AUTO;
    cp.type_k = tk;
    cp.type_v = tv;
    cp.rope_freq_base = lp->rope_freq_base;
    cp.rope_freq_scale = lp->rope_freq_scale;
    cp.no_perf = true;
    w->ctx = llama_init_from_model(w->model, cp);
    if (!w->ctx)
        return err_set(e, ERR_BAD_MODEL, "llama.cpp could not create a context of %u tokens: %s",
                       n_ctx, last_llama_error[0] ? last_llama_error : "see the log");
    w->vocab = llama_model_get_vocab(w->model);
    w->n_ctx = llama_n_ctx_seq(w->ctx);
    w->n_batch = llama_n_batch(w->ctx);
    w->n_ubatch = llama_n_ubatch(w->ctx);
    w->n_slots = n_slots;
    w->slots = xcalloc((size_t)n_slots, sizeof *w->slots);
    for (int i = 0; i < n_slots; i++) {
        w->slots[i].seq = i;
        w->slots[i].i_batch = -1;
    }
    w->pending_tail = &w->pending;
    buf_init(&w->out, (size_t)PROTO_MAX_FRAME * 2);
    w->batch = llama_batch_init((int32_t)w->n_batch, 0, 1);
    if (n_train > 0 && w->n_ctx > (uint32_t)n_train)
        log_warn("msg=\"context is larger than the model was trained for\" n_ctx=%u "
                 "n_ctx_train=%d",
                 w->n_ctx, n_train);

    char desc[256];
    llama_model_desc(w->model, desc, sizeof desc);
    info->desc = xstrdup(desc);
    const char *tmpl = llama_model_chat_template(w->model, NULL);
    info->chat_template = tmpl ? xstrdup(tmpl) : NULL;
    info->n_ctx = w->n_ctx;
    info->n_parallel = (uint32_t)n_slots;
    info->n_ctx_train = (uint32_t)(n_train > 0 ? n_train : 0);
    info->n_vocab = (uint32_t)llama_vocab_n_tokens(w->vocab);
    info->n_embd = (uint32_t)llama_model_n_embd(w->model);
    info->n_layer = (uint32_t)llama_model_n_layer(w->model);
    info->n_params = llama_model_n_params(w->model);
    info->size = llama_model_size(w->model);
    info->load_us = now_us() - t0;
    if (n_gpus > 0) {
        int32_t n_layer = llama_model_n_layer(w->model);
        info->n_gpu_layers = (uint32_t)(mp.n_gpu_layers > n_layer + 1 ? n_layer + 1
                                        : mp.n_gpu_layers < 0         ? n_layer + 1
                                                                      : mp.n_gpu_layers);
        struct offload_gpu after[OFFLOAD_MAX_GPUS];
        int n_after = offload_gpus(after, OFFLOAD_MAX_GPUS);
        uint64_t free_after = 0;
        for (int i = 0; i < n_after; i++)
            free_after += after[i].free;
        info->size_vram = free_before > free_after ? free_before - free_after : 0;
        snprintf(info->gpu, sizeof info->gpu, "%.100s%s", gpus[0].desc,
                 n_gpus > 1 ? " and more" : "");
        if (info->n_gpu_layers == 0)
            info->size_vram = 0;
    }
    kvcache_set_model(w, req->path);
    log_info("msg=\"model loaded\" path=%s desc=%s n_ctx=%u slots=%d gpu_layers=%u vram=%llu "
             "ms=%lld",
             log_q(req->path), log_q(desc), w->n_ctx, n_slots, info->n_gpu_layers,
             (unsigned long long)info->size_vram, (long long)(info->load_us / 1000));
    return 0;
}

/* ---- requests ---- */

int out_send(struct worker *w, const struct proto_msg *m)
{
    if (w->peer_gone)
        return ERR_WORKER_DIED;
    size_t before = w->out.len;
    if (proto_encode(m, &w->out)) {
        /* Too large for one frame (or the queue): say so instead, in a frame that fits. */
        w->out.len = before;
        struct proto_msg err;
        proto_msg_init(&err, PROTO_ERROR);
        err.id = m->id;
        err.code = ERR_TOO_LARGE;
        err.message = (char *)"the answer is too large for the worker protocol";
        if (proto_encode(&err, &w->out))
            return out_flush(w);
    }
    return w->out.len > (1u << 20) ? out_flush(w) : 0;
}

int out_error(struct worker *w, uint64_t id, int code, const char *message)
{
    struct proto_msg m;
    proto_msg_init(&m, PROTO_ERROR);
    m.id = id;
    m.code = code;
    m.message = (char *)message;
    return out_send(w, &m);
}

int out_flush(struct worker *w)
{
    if (!w->peer_gone && w->out.len && proto_write(w->fd, w->out.data, w->out.len))
        w->peer_gone = 1;
    buf_reset(&w->out);
    return w->peer_gone ? ERR_WORKER_DIED : 0;
}

void tokvec_push(struct tokvec *t, llama_token tok)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->v = xrealloc(t->v, t->cap * sizeof *t->v);
    }
    t->v[t->n++] = tok;
}

void tokvec_free(struct tokvec *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

int tokenize_append(const struct worker *w, const char *text, bool add_special, bool parse_special,
                    struct tokvec *out)
{
    size_t len = strlen(text);
    if (len > PROTO_MAX_PROMPT)
        return ERR_TOO_LARGE;
    int32_t n = -llama_tokenize(w->vocab, text, (int32_t)len, NULL, 0, add_special, parse_special);
    if (n <= 0)
        return 0;
    llama_token *tmp = xcalloc((size_t)n, sizeof *tmp);
    int32_t got = llama_tokenize(w->vocab, text, (int32_t)len, tmp, n, add_special, parse_special);
    if (got != n) {
        free(tmp);
        return ERR_INTERNAL;
    }
    for (int32_t i = 0; i < n; i++)
        tokvec_push(out, tmp[i]);
    free(tmp);
    return 0;
}

int worker_tokenize(struct worker *w, const struct proto_msg *req, struct proto_msg *out,
                    struct err *e)
{
    int32_t n_vocab = llama_vocab_n_tokens(w->vocab);
    if (req->type == PROTO_DETOKENIZE) {
        struct buf text;
        buf_init(&text, PROTO_MAX_PROMPT);
        for (uint32_t i = 0; i < req->n_prefix_tokens; i++) {
            if (req->prefix_tokens[i] < 0 || req->prefix_tokens[i] >= n_vocab) {
                buf_free(&text);
                return err_set(e, ERR_BAD_REQUEST, "token %d is outside the vocabulary (%d)",
                               req->prefix_tokens[i], n_vocab);
            }
            char piece[256];
            int32_t n = llama_token_to_piece(w->vocab, req->prefix_tokens[i], piece, sizeof piece,
                                             0, false);
            if (n > 0 && buf_append(&text, piece, (size_t)n)) {
                buf_free(&text);
                return err_set(e, ERR_TOO_LARGE, "the text is too large");
            }
        }
        out->prompt = utf8_sanitize(text.data ? text.data : "", text.len);
        buf_free(&text);
        return 0;
    }
    struct tokvec t = {0};
    int rc = tokenize_append(w, req->prompt, (req->flags & PROTO_TOK_ADD_SPECIAL) != 0,
                             (req->flags & PROTO_TOK_PARSE_SPECIAL) != 0, &t);
    if (rc) {
        tokvec_free(&t);
        return err_set(e, rc, "the text could not be tokenized");
    }
    out->prefix_tokens = t.v;
    out->n_prefix_tokens = (uint32_t)t.n;
    if (req->flags & PROTO_TOK_PIECES) {
        out->inputs.v = xcalloc(t.n ? t.n : 1, sizeof(char *));
        for (size_t i = 0; i < t.n; i++) {
            char piece[256];
            int32_t n = llama_token_to_piece(w->vocab, t.v[i], piece, sizeof piece, 0, true);
            out->inputs.v[out->inputs.n++] = xstrndup(piece, n > 0 ? (size_t)n : 0);
        }
    }
    return 0;
}

/* Handles one message from the parent; takes ownership of m. Returns 0 or ERR_WORKER_DIED. */
static int handle(struct worker *w, struct proto_msg *m)
{
    int rc = 0;
    bool pooled = llama_pooling_type(w->ctx) != LLAMA_POOLING_TYPE_NONE;
    if (m->type == PROTO_GENERATE || (m->type == PROTO_EMBED && !pooled))
        return worker_enqueue(w, m); /* a slot is needed */
    if (m->type == PROTO_EMBED || m->type == PROTO_TOKENIZE || m->type == PROTO_DETOKENIZE) {
        /* Answered at once, between two steps; an embedding model has no generating slots. */
        struct proto_msg out;
        proto_msg_init(&out, m->type == PROTO_EMBED      ? PROTO_EMBEDDING
                             : m->type == PROTO_TOKENIZE ? PROTO_TOKENIZED
                                                         : PROTO_DETOKENIZED);
        out.id = m->id;
        struct err e = {0};
        rc = m->type == PROTO_EMBED ? worker_embed(w, 0, m, &out, &e)
                                    : worker_tokenize(w, m, &out, &e);
        rc = rc ? out_error(w, m->id, rc, e.msg) : out_send(w, &out);
        proto_msg_free(&out);
    } else if (m->type == PROTO_CANCEL) {
        worker_cancel(w, m->id);
    } else if (m->type == PROTO_SLOTS) {
        struct proto_msg out;
        proto_msg_init(&out, PROTO_SLOTS_INFO);
        out.id = m->id;
        worker_slots_info(w, &out);
        rc = out_send(w, &out);
        proto_msg_free(&out);
    } else {
        log_warn("msg=\"unexpected message from parent\" type=%d", (int)m->type);
    }
    proto_msg_free(m);
    return w->peer_gone ? ERR_WORKER_DIED : rc;
}

bool worker_poll_cancel(struct worker *w, uint64_t id)
{
    for (;;) {
        struct pollfd pfd = {w->fd, POLLIN, 0};
        if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            return false;
        struct inbox *in = xcalloc(1, sizeof *in);
        struct err e = {0};
        int rc = proto_recv(w->fd, &in->m, &e);
        if (rc == ERR_WORKER_DIED || rc == ERR_IO)
            w->peer_gone = 1;
        if (rc || (in->m.type == PROTO_CANCEL && in->m.id == id)) {
            proto_msg_free(&in->m);
            free(in);
            if (w->peer_gone || !rc)
                return true;
            continue;
        }
        if (!w->inbox_tail)
            w->inbox_tail = &w->inbox;
        *w->inbox_tail = in;
        w->inbox_tail = &in->next;
    }
}

static int serve(struct worker *w)
{
    for (;;) {
        while (w->inbox) {
            struct inbox *in = w->inbox;
            w->inbox = in->next;
            if (!w->inbox)
                w->inbox_tail = &w->inbox;
            int rc = handle(w, &in->m);
            free(in);
            if (rc || out_flush(w))
                return 0;
        }
        if (w->peer_gone)
            return 0;
        /* Block when there is nothing to compute; otherwise take whatever has arrived and go
         * on with the next step. */
        bool busy = worker_has_work(w);
        bool was_idle = !busy;
        int64_t gather_until = 0;
        for (;;) {
            int timeout = busy ? 0 : -1;
            if (busy && gather_until) {
                int64_t left = gather_until - now_us();
                timeout = left > 0 ? (int)((left + 999) / 1000) : 0;
            }
            struct pollfd pfd = {w->fd, POLLIN, 0};
            int r = poll(&pfd, 1, timeout);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return 0;
            if (r == 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
                break;
            struct proto_msg m;
            struct err e = {0};
            int rc = proto_recv(w->fd, &m, &e);
            if (rc == ERR_WORKER_DIED || rc == ERR_IO) {
                proto_msg_free(&m);
                return 0; /* the parent closed its end: we are done */
            }
            if (rc) {
                log_warn("msg=\"bad message from parent\" err=%s", log_q(e.msg));
                proto_msg_free(&m);
                continue;
            }
            if (handle(w, &m) || out_flush(w))
                return 0;
            busy = worker_has_work(w);
            /* Requests that arrive together should start together: their prompts then share
             * one step instead of the first going alone and the rest joining a step later (two
             * more passes over the weights). When a queue forms on an idle worker and its prompts
             * will cost a step of 50 ms or more, wait up to 2 ms for company. */
            if (was_idle && busy && !gather_until && w->prompt_us_per_token > 0 &&
                (double)worker_pending_prompt(w) * w->prompt_us_per_token >= 50000)
                gather_until = now_us() + 2000;
        }
        if (worker_step(w) || out_flush(w))
            return 0;
    }
}

int worker_main(int argc, char **argv)
{
    int fd = -1;
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            fd = atoi(argv[++i]);
    if (fd < 0) {
        fprintf(stderr, "hearth worker: internal command, started by `hearth run` and `hearth "
                        "serve` (usage: hearth worker --fd N)\n");
        return 2;
    }
    log_set_component("worker");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* the parent decides what Ctrl-C means */
    /* No PR_SET_PDEATHSIG: it fires when the *thread* that forked us exits, and the daemon
     * starts workers from short-lived connection threads. The socket tells us instead: when the
     * parent dies its end closes, and every read here (idle, or between tokens) sees EOF. */

    struct worker w = {.fd = fd, .fault_abort_after = -1};
    const char *fault = getenv("HEARTH_TEST_FAULT");
    if (fault && strncmp(fault, "abort_after_tokens:", 19) == 0)
        w.fault_abort_after = atol(fault + 19);

    engine_init_logging();
    llama_backend_init();

    struct proto_msg req;
    struct err e = {0};
    int rc = proto_recv(fd, &req, &e);
    if (rc || req.type != PROTO_LOAD) {
        if (!rc)
            proto_send_error(fd, 0, ERR_PROTOCOL, "the first message must be LOAD");
        proto_msg_free(&req);
        llama_backend_free();
        return 1;
    }
    struct proto_msg loaded;
    proto_msg_init(&loaded, PROTO_LOADED);
    rc = load_model(&w, &req, &loaded.info, &e);
    proto_msg_free(&req);
    int status = 0;
    if (rc) {
        proto_send_error(fd, 0, rc, e.msg);
        status = 1;
    } else if (proto_send(fd, &loaded, NULL) == 0) {
        status = serve(&w);
    }
    proto_msg_free(&loaded);
    worker_slots_free(&w);
    while (w.inbox) {
        struct inbox *in = w.inbox;
        w.inbox = in->next;
        proto_msg_free(&in->m);
        free(in);
    }
    for (int i = 0; i < w.n_slots; i++) {
        kvcache_save(&w, &w.slots[i], true); /* the model is being unloaded: keep its prompts */
        tokvec_free(&w.slots[i].toks);
    }
    kvcache_flush(&w);
    buf_free(&w.out);
    free(w.slots);
    if (w.ctx)
        llama_batch_free(w.batch);
    llama_free(w.ctx);
    llama_model_free(w.model);
    llama_backend_free();
    return status;
}
