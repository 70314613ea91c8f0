/* Internal to the worker (src/engine/worker.c, gen.c, embed.c): the loaded model and the
 * helpers the request handlers share. Includes llama.h. */
#ifndef HEARTH_ENGINE_WORKER_INT_H
#define HEARTH_ENGINE_WORKER_INT_H

#include "base/err.h"
#include "engine/proto.h"

#include <llama.h>
#include <stddef.h>
#include <stdint.h>

/* A growable token array. */
struct tokvec {
    llama_token *v;
    size_t n, cap;
};

struct worker {
    int fd; /* the protocol socket */
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    uint32_t n_ctx;
    uint32_t n_batch;
    long fault_abort_after; /* test hook: abort() after this many tokens; -1 off */
    /* The tokens whose keys and values are in the context (sequence 0), in order: a new
     * prompt that starts with them only computes the rest. Cleared by anything else that uses
     * the context (embeddings). */
    struct tokvec cached;
    char model_id[64]; /* hex SHA-256 of the model file's path, size and time: cache files' key */
};

/* The prompt cache on disk (kvcache.c), active when HEARTH_PROMPT_CACHE_DIR is set. */
void kvcache_set_model(struct worker *w, const char *path);
/* Writes what the context holds (w->cached) when it is long enough to be worth keeping. */
void kvcache_save(struct worker *w);
/* Loads the longest saved prefix of prompt that beats what the context holds; returns its
 * token count (w->cached updated) or 0. Damaged files are removed with a warning. */
size_t kvcache_restore(struct worker *w, const struct tokvec *prompt);

void tokvec_push(struct tokvec *t, llama_token tok);
void tokvec_free(struct tokvec *t);

/* Appends the tokens of text (add_special: BOS/EOS as the model wants; parse_special: special
 * tokens written in the text). Returns 0 or ERR_INTERNAL. */
int tokenize_append(const struct worker *w, const char *text, bool add_special, bool parse_special,
                    struct tokvec *out);

/* The request being served: set by poll_parent when CANCEL arrives or the parent leaves. */
struct gen_state {
    uint64_t id;
    int cancelled;
    int peer_gone;
};

/* Looks at the socket without blocking: handles CANCEL for the running request, refuses other
 * work while one runs (one request at a time until #5), and notices the parent going away. */
void poll_parent(struct worker *w, struct gen_state *g);

/* GENERATE: streams TOKEN events and fills st for DONE. Returns 0, ERR_WORKER_DIED when the
 * parent went away, or another error for an ERROR event. */
int worker_generate(struct worker *w, struct proto_msg *req, struct gen_stats *st, struct err *e);

/* TOKENIZE and DETOKENIZE: fill out (TOKENIZED or DETOKENIZED). */
int worker_tokenize(struct worker *w, const struct proto_msg *req, struct proto_msg *out,
                    struct err *e);

/* EMBED: fills out (an EMBEDDING message). */
int worker_embed(struct worker *w, const struct proto_msg *req, struct proto_msg *out,
                 struct err *e);

#endif
