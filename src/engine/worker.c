/* `hearth worker`: one process, one model, requests from the parent over the protocol in
 * proto.h. It loads the model, then serves GENERATE requests one at a time (#5 adds slots and
 * continuous batching), streaming TOKEN events and ending each request with DONE or ERROR.
 */
#include "base/buf.h"
#include "base/log.h"
#include "base/utf8.h"
#include "base/util.h"
#include "engine/engine.h"
#include "engine/mfile.h"
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
    mfile_close(&mf);

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = lp->num_gpu < 0 ? 999 : lp->num_gpu;
    if (lp->use_mmap)
        mp.load_mode = lp->use_mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP;
    else
        mp.load_mode = lp->use_mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE;
    last_llama_error[0] = '\0';
    w->model = llama_model_load_from_file(req->path, mp);
    if (!w->model)
        return err_set(e, ERR_BAD_MODEL, "llama.cpp could not load %s: %s", req->path,
                       last_llama_error[0] ? last_llama_error : "see the log for details");

    int32_t n_train = llama_model_n_ctx_train(w->model);
    struct llama_context_params cp = llama_context_default_params();
    uint32_t n_ctx = (uint32_t)lp->num_ctx;
    if (n_ctx == 0)
        n_ctx = n_train > 0 && n_train < 4096 ? (uint32_t)n_train : 4096;
    cp.n_ctx = n_ctx;
    cp.n_batch = (uint32_t)lp->num_batch;
    cp.n_ubatch = (uint32_t)(lp->num_ubatch < lp->num_batch ? lp->num_ubatch : lp->num_batch);
    cp.n_seq_max = 1;
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
    w->n_ctx = llama_n_ctx(w->ctx);
    w->n_batch = llama_n_batch(w->ctx);
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
    info->n_ctx_train = (uint32_t)(n_train > 0 ? n_train : 0);
    info->n_vocab = (uint32_t)llama_vocab_n_tokens(w->vocab);
    info->n_embd = (uint32_t)llama_model_n_embd(w->model);
    info->n_layer = (uint32_t)llama_model_n_layer(w->model);
    info->n_params = llama_model_n_params(w->model);
    info->size = llama_model_size(w->model);
    info->load_us = now_us() - t0;
    kvcache_set_model(w, req->path);
    log_info("msg=\"model loaded\" path=%s desc=%s n_ctx=%u ms=%lld", log_q(req->path), log_q(desc),
             w->n_ctx, (long long)(info->load_us / 1000));
    return 0;
}

/* ---- requests ---- */

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

void poll_parent(struct worker *w, struct gen_state *g)
{
    for (;;) {
        struct pollfd pfd = {w->fd, POLLIN, 0};
        int r = poll(&pfd, 1, 0);
        if (r <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
            return;
        struct proto_msg m;
        struct err e = {0};
        int rc = proto_recv(w->fd, &m, &e);
        if (rc == ERR_WORKER_DIED || rc == ERR_IO) {
            g->peer_gone = 1;
            g->cancelled = 1;
            proto_msg_free(&m);
            return;
        }
        if (rc)
            log_warn("msg=\"bad message from parent\" err=%s", log_q(e.msg));
        else if (m.type == PROTO_CANCEL && m.id == g->id)
            g->cancelled = 1;
        else if (m.type == PROTO_GENERATE || m.type == PROTO_EMBED || m.type == PROTO_TOKENIZE ||
                 m.type == PROTO_DETOKENIZE)
            proto_send_error(w->fd, m.id, ERR_UNAVAILABLE, "worker is busy with another request");
        proto_msg_free(&m);
    }
}

static int serve(struct worker *w)
{
    for (;;) {
        struct proto_msg req;
        struct err e = {0};
        int rc = proto_recv(w->fd, &req, &e);
        if (rc == ERR_WORKER_DIED || rc == ERR_IO) {
            proto_msg_free(&req);
            return 0; /* the parent closed its end: we are done */
        }
        if (rc) {
            log_warn("msg=\"bad message from parent\" err=%s", log_q(e.msg));
            proto_msg_free(&req);
            continue;
        }
        if (req.type == PROTO_EMBED || req.type == PROTO_TOKENIZE || req.type == PROTO_DETOKENIZE) {
            struct proto_msg out;
            proto_msg_init(&out, req.type == PROTO_EMBED      ? PROTO_EMBEDDING
                                 : req.type == PROTO_TOKENIZE ? PROTO_TOKENIZED
                                                              : PROTO_DETOKENIZED);
            out.id = req.id;
            rc = req.type == PROTO_EMBED ? worker_embed(w, &req, &out, &e)
                                         : worker_tokenize(w, &req, &out, &e);
            int sent =
                rc ? proto_send_error(w->fd, req.id, rc, e.msg) : proto_send(w->fd, &out, NULL);
            proto_msg_free(&out);
            proto_msg_free(&req);
            if (sent)
                return 0;
            continue;
        }
        if (req.type == PROTO_GENERATE) {
            struct proto_msg done;
            proto_msg_init(&done, PROTO_DONE);
            done.id = req.id;
            rc = worker_generate(w, &req, &done.stats, &e);
            if (rc == ERR_WORKER_DIED) {
                proto_msg_free(&done);
                proto_msg_free(&req);
                return 0;
            }
            if (rc)
                proto_send_error(w->fd, req.id, rc, e.msg);
            else if (proto_send(w->fd, &done, NULL)) {
                proto_msg_free(&done);
                proto_msg_free(&req);
                return 0;
            }
            proto_msg_free(&done);
        } else if (req.type != PROTO_CANCEL) {
            log_warn("msg=\"unexpected message from parent\" type=%d", (int)req.type);
        }
        proto_msg_free(&req);
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
    if (w.ctx)
        kvcache_save(&w); /* the model is being unloaded: keep its last prompt */
    tokvec_free(&w.cached);
    llama_free(w.ctx);
    llama_model_free(w.model);
    llama_backend_free();
    return status;
}
