/* Internal to the worker (src/engine/worker.c, gen.c, embed.c): the loaded model and the
 * helpers the request handlers share. Includes llama.h. */
#ifndef HEARTH_ENGINE_WORKER_INT_H
#define HEARTH_ENGINE_WORKER_INT_H

#include "base/buf.h"
#include "base/err.h"
#include "engine/engine.h"
#include "engine/proto.h"
#include "engine/textout.h"

#include <llama.h>
#include <stddef.h>
#include <stdint.h>

/* A growable token array. */
struct tokvec {
    llama_token *v;
    size_t n, cap;
};

/* One request's place in the worker: a sequence of the shared context. An idle slot keeps the
 * keys and values of its last request (toks[0..n_past)) so that a new prompt starting with them
 * only computes the rest. */
enum slot_state { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN };

struct slot {
    int seq; /* llama_seq_id */
    enum slot_state state;
    struct tokvec toks; /* prompt, then output; toks[0..n_past) are in the context */
    size_t n_past;
    int64_t last_used; /* monotonic us: the least recently used idle slot is taken first */
    /* The request being served (state != SLOT_IDLE): */
    struct proto_msg req; /* owned */
    struct sampler smpl;
    struct textout to;
    struct gen_stats st;
    int32_t i_batch; /* its row of logits in this step's batch, or -1 */
    int64_t t_start, t_prompt_done;
    bool cancelled, want_probs, from_bos;
    /* The reasoning budget (gen.reasoning_budget): thinking ends by itself (its closing text
     * seen in the output), or the closing text's tokens are forced once the budget is spent. */
    bool think_open;
    char think_tail[72]; /* the output's last bytes, to see the closing text */
    llama_token forced[32];
    int n_forced, i_forced;
};

/* A request that arrived while every slot was taken (GENERATE, or EMBED on a generative model,
 * which borrows a slot's sequence). Served in arrival order. */
struct pending {
    struct pending *next;
    struct proto_msg req; /* owned */
    struct tokvec toks;   /* GENERATE: the prompt, built and checked on arrival */
    uint32_t truncated;
};

#define WORKER_MAX_PENDING 1024

struct inbox {
    struct inbox *next;
    struct proto_msg m;
};

struct worker {
    int fd; /* the protocol socket */
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    uint32_t n_ctx; /* tokens per slot */
    uint32_t n_batch, n_ubatch;
    long fault_abort_after; /* test hook: abort() after this many tokens; -1 off */
    struct slot *slots;
    int n_slots;
    struct pending *pending, **pending_tail;
    int n_pending;
    struct llama_batch batch; /* n_batch tokens, reused every step */
    int peer_gone;
    double prompt_us_per_token; /* measured cost of a prompt token in a step; 0 until known */
    uint64_t kv_dropped;        /* saved prompts the writer was too far behind to take */
    double save_us_per_token;   /* measured cost of saving a token's state; 0 until known */
    struct inbox *inbox, **inbox_tail; /* messages read early, for the main loop */
    char model_id[64]; /* hex SHA-256 of the model file's path, size and time: cache files' key */
    struct buf out;    /* messages of this step, written at once by worker_flush */
    struct kv_entry *kv_ram; /* the prompt cache's RAM tier (kvcache.c) */
    size_t kv_ram_bytes;
    struct kv_writer *kv_writer; /* the thread that writes its files, once started */
};

/* The prompt cache (kvcache.c): a RAM tier (HEARTH_PROMPT_CACHE_RAM_MB) in front of a directory
 * (HEARTH_PROMPT_CACHE_DIR). */
void kvcache_set_model(struct worker *w, const char *path);
/* Keeps what the slot's sequence holds (toks[0..n_past)) when it is long enough to keep. While
 * the model stays loaded (a slot is being reused), a prompt is kept only where computing it again
 * would cost more than saving and restoring it, both as measured on this machine: on a GPU a
 * short prompt is recomputed faster than its state is copied out and back. Unloading keeps all. */
void kvcache_save(struct worker *w, struct slot *s, bool unloading);
/* Writes everything the RAM tier holds to the directory, waits for the writer to finish, and
 * frees it all (the worker is exiting). */
void kvcache_flush(struct worker *w);
/* Loads into the slot's sequence the longest saved prefix of prompt when it is longer than the
 * `have` tokens the sequence already shares with it; returns its token count (s->toks and
 * s->n_past updated) or 0. Damaged files are removed with
 * a warning. */
size_t kvcache_restore(struct worker *w, struct slot *s, const struct tokvec *prompt, size_t have);

/* Queues a message to the parent; out_flush writes the queue in one system call (all the
 * tokens of one step together). Both return 0, or ERR_WORKER_DIED with w->peer_gone set. */
int out_send(struct worker *w, const struct proto_msg *m);
int out_error(struct worker *w, uint64_t id, int code, const char *message);
int out_flush(struct worker *w);

void tokvec_push(struct tokvec *t, llama_token tok);
void tokvec_free(struct tokvec *t);

/* Appends the tokens of text (add_special: BOS/EOS as the model wants; parse_special: special
 * tokens written in the text). Returns 0 or ERR_INTERNAL. */
int tokenize_append(const struct worker *w, const char *text, bool add_special, bool parse_special,
                    struct tokvec *out);

/* GENERATE arrives: builds and checks the prompt (ERROR sent at once when it is bad) and
 * queues the request for a slot. Takes ownership of req. Returns 0, or ERR_WORKER_DIED when
 * the parent went away. */
int worker_enqueue(struct worker *w, struct proto_msg *req);

/* CANCEL: the request ends with DONE (stop reason CANCELLED) at the next step, or now when it
 * is still queued. Unknown ids are ignored. */
void worker_cancel(struct worker *w, uint64_t id);

/* Gives queued requests the free slots (longest shared prefix first), then runs one decode
 * step over every busy slot: the next token of each generating slot and a chunk of each
 * prompt, in one llama_decode. Returns 0 or ERR_WORKER_DIED. */
int worker_step(struct worker *w);

/* The prompt tokens of the queued requests (what their first steps will compute). */
size_t worker_pending_prompt(const struct worker *w);

/* Whether a step has work: a busy slot, or a queued request and a free slot. */
bool worker_has_work(const struct worker *w);

/* Between two inputs of a long EMBED: whether CANCEL arrived for id or the parent went away.
 * Other messages wait in w->inbox for the main loop. */
bool worker_poll_cancel(struct worker *w, uint64_t id);

/* SLOTS: what each slot is doing, for /slots. */
void worker_slots_info(const struct worker *w, struct proto_msg *out);

/* Ends every request (the worker is going away). */
void worker_slots_free(struct worker *w);

/* TOKENIZE and DETOKENIZE: fill out (TOKENIZED or DETOKENIZED). */
int worker_tokenize(struct worker *w, const struct proto_msg *req, struct proto_msg *out,
                    struct err *e);

/* EMBED: fills out (an EMBEDDING message), computing in sequence seq (whose contents are lost).
 */
int worker_embed(struct worker *w, int seq, const struct proto_msg *req, struct proto_msg *out,
                 struct err *e);

#endif
