/* The worker protocol: how the daemon (or `hearth run`) talks to a `hearth worker` process.
 *
 * One worker owns one loaded model. The parent creates a socketpair, starts `hearth worker
 * --fd N` on one end and keeps the other. Both sides exchange frames:
 *
 *   u32 payload length (little endian, at most PROTO_MAX_FRAME)
 *   u8  message type (enum proto_type)
 *   u8  reserved[3] (zero)
 *   payload: fields in the order given below, each encoded as
 *     u8/u32/i32/u64/i64: little endian; f32: IEEE-754 bits as u32;
 *     str: u32 length, bytes (no terminator; length 0xFFFFFFFF means NULL)
 *
 * Conversation, parent (P) and worker (W):
 *
 *   P->W LOAD      str path, load_params                 first message, exactly once
 *   W->P LOADED    model_info                            or ERROR with id 0, then W exits
 *   P->W GENERATE  u64 id, u32 flags, str prompt, str suffix, i32[] prefix_tokens,
 *                  u32 top_logprobs, gen_params
 *   W->P TOKEN     u64 id, str text, u32 n_tokens, probs zero or more per request
 *   W->P DONE      u64 id, gen_stats                     ends a request
 *   W->P ERROR     u64 id, i32 code, str message         ends a request (or the load)
 *   P->W CANCEL    u64 id                                ends that request with DONE
 *                                                        (stop reason CANCELLED); unknown ids
 *                                                        are ignored
 *   P->W EMBED     u64 id, u32 flags, u32 dimensions, str[] inputs
 *   W->P EMBEDDING u64 id, u32 n, u32 dim, f32[n*dim], u32 prompt_n, i64 us
 *                                                        (or ERROR) ends an EMBED
 *   P->W TOKENIZE  u64 id, u32 flags, str text
 *   W->P TOKENIZED u64 id, i32[] tokens, str[] pieces     (pieces only with PROTO_TOK_PIECES)
 *   P->W DETOKENIZE   u64 id, i32[] tokens
 *   W->P DETOKENIZED  u64 id, str text
 *   P->W SLOTS     u64 id                                answered at once, between two steps
 *   W->P SLOTS_INFO   u64 id, u32 n_queued, u32 n, n times slot_info (u32 state, u64 task,
 *                     u32 n_ctx, u32 n_past, u32 n_prompt, u32 n_decoded)
 *
 * i32[] and f32[] are a u32 count followed by the values; str[] a u32 count and strings.
 * probs (only with PROTO_GEN_LOGPROBS) is a u32 count of entries, each: i32 token, str piece,
 * f32 logprob, u32 n_top, then n_top times (i32 token, str piece, f32 logprob). gen_stats adds
 * u32 truncated and i32[] context to the fields of DONE.
 *
 * TOKEN text is always whole UTF-8 characters: bytes of a character split across tokens are
 * held until it is complete (invalid bytes become U+FFFD), and text that might be the start of
 * a stop string is held until it is known not to be. The parent closing its end makes the worker
 * exit. A worker that dies shows as EOF (or ECONNRESET) on the parent's end: the parent fails
 * the affected requests with ERR_WORKER_DIED and reaps the process.
 *
 * Params are encoded field by field in the order of params_table(), so a knob added to the
 * table travels without protocol changes (both ends are always the same binary).
 */
#ifndef HEARTH_ENGINE_PROTO_H
#define HEARTH_ENGINE_PROTO_H

#include "base/buf.h"
#include "base/err.h"
#include "engine/params.h"

#include <stdint.h>

#define PROTO_MAX_FRAME        (64u << 20)
#define PROTO_MAX_PROMPT       (32u << 20)
#define PROTO_MAX_TOKENS       (4u << 20) /* prefix_tokens and context arrays */
#define PROTO_MAX_EMBED_INPUTS 2048       /* strings in one EMBED */
#define PROTO_MAX_TOP_LOGPROBS 20

enum proto_type {
    PROTO_LOAD = 1,
    PROTO_LOADED = 2,
    PROTO_GENERATE = 3,
    PROTO_TOKEN = 4,
    PROTO_DONE = 5,
    PROTO_ERROR = 6,
    PROTO_CANCEL = 7,
    PROTO_EMBED = 8,
    PROTO_EMBEDDING = 9,
    PROTO_TOKENIZE = 10,
    PROTO_TOKENIZED = 11,
    PROTO_DETOKENIZE = 12,
    PROTO_DETOKENIZED = 13,
    PROTO_SLOTS = 14,
    PROTO_SLOTS_INFO = 15,
};

#define PROTO_MAX_SLOTS 256

enum proto_slot_state { PROTO_SLOT_IDLE = 0, PROTO_SLOT_PROMPT = 1, PROTO_SLOT_GENERATING = 2 };

/* One slot of a worker, as /slots shows it. */
struct slot_info {
    uint32_t state; /* enum proto_slot_state */
    uint64_t task;  /* the request id it serves (0 when idle) */
    uint32_t n_ctx;
    uint32_t n_past;    /* tokens whose keys and values it holds */
    uint32_t n_prompt;  /* the running request's prompt tokens */
    uint32_t n_decoded; /* tokens generated so far */
};

/* TOKENIZE flags. */
enum {
    PROTO_TOK_ADD_SPECIAL = 1 << 0,   /* BOS/EOS as the model wants */
    PROTO_TOK_PARSE_SPECIAL = 1 << 1, /* special tokens written in the text */
    PROTO_TOK_PIECES = 1 << 2,        /* also return each token's text */
};

/* GENERATE flags. */
enum {
    PROTO_GEN_PARSE_SPECIAL = 1 << 0,  /* tokenize special tokens written in the prompt text */
    PROTO_GEN_NO_BOS = 1 << 1,         /* do not add BOS even when the model asks for it */
    PROTO_GEN_TRUNCATE = 1 << 2,       /* drop the oldest prompt tokens (after num_keep) to fit
                                          the context instead of failing with ERR_CONTEXT */
    PROTO_GEN_RETURN_TOKENS = 1 << 3,  /* DONE carries every token (prompt and output) */
    PROTO_GEN_LOGPROBS = 1 << 4,       /* TOKEN events carry each token's log-probability */
    PROTO_GEN_SUFFIX = 1 << 5,         /* fill in the middle: prompt is the prefix */
    PROTO_GEN_NO_CACHE = 1 << 6,       /* compute the whole prompt: no reuse of cached tokens */
    PROTO_GEN_RENDER_SPECIAL = 1 << 7, /* special tokens appear in the output text (the tool-call
                                          and channel markers some families write as tokens) */
};

/* EMBED flags. */
enum {
    PROTO_EMBED_TRUNCATE = 1 << 0,     /* cut inputs longer than the context instead of failing */
    PROTO_EMBED_NO_NORMALIZE = 1 << 1, /* raw vectors (Ollama's legacy /api/embeddings) */
    PROTO_EMBED_RERANK = 1 << 2,       /* inputs are a query and documents: one relevance score
                                          per document, from a reranker's classification head */
};

enum proto_stop_reason {
    PROTO_STOP_EOS = 0,       /* the model produced an end-of-generation token */
    PROTO_STOP_STRING = 1,    /* a stop string matched; the text before it was sent */
    PROTO_STOP_LENGTH = 2,    /* num_predict reached */
    PROTO_STOP_CONTEXT = 3,   /* the context window is full */
    PROTO_STOP_CANCELLED = 4, /* CANCEL arrived */
};

const char *proto_stop_reason_name(int reason);

struct model_info {
    char *desc;          /* llama_model_desc(), e.g. "llama ?B all F32"; owned */
    char *chat_template; /* the GGUF's tokenizer.chat_template or NULL; owned */
    uint32_t n_ctx;      /* tokens per slot (the context created holds n_ctx * n_parallel) */
    uint32_t n_parallel; /* slots: requests served at once */
    uint32_t n_ctx_train;
    uint32_t n_vocab;
    uint32_t n_embd;
    uint32_t n_layer;
    uint64_t n_params;
    uint64_t size; /* bytes of weights */
    int64_t load_us;
    uint32_t n_gpu_layers; /* layers on GPUs (n_layer + 1: all, with the output); 0 on CPU */
    uint64_t size_vram;    /* bytes the model took on GPUs (measured: free memory before and
                              after loading) */
    char gpu[128];         /* the GPUs' names, e.g. "NVIDIA H100 80GB HBM3", or "" */
};

struct gen_stats {
    uint32_t stop_reason; /* enum proto_stop_reason */
    uint32_t prompt_n;    /* prompt tokens evaluated */
    uint32_t prompt_cached;
    uint32_t gen_n; /* tokens generated */
    int64_t prompt_us;
    int64_t gen_us;
    char *stop_string;  /* the stop string that matched, or NULL; owned */
    uint32_t truncated; /* prompt tokens dropped to fit the context (PROTO_GEN_TRUNCATE) */
    int32_t *context;   /* PROTO_GEN_RETURN_TOKENS: prompt and output tokens; owned */
    uint32_t n_context;
    uint32_t shifted; /* tokens dropped by context shifts during generation */
};

struct token_logprob {
    int32_t token;
    char *piece; /* the token's text (may be a partial UTF-8 character); owned */
    float logprob;
};

/* One sampled token's log-probability and its most likely alternatives. */
struct token_probs {
    struct token_logprob chosen;
    struct token_logprob *top; /* owned */
    uint32_t n_top;
};

/* A decoded message. Strings are owned by the message; proto_msg_free releases them. */
struct proto_msg {
    enum proto_type type;
    uint64_t id;
    /* LOAD */
    char *path;
    struct load_params load;
    /* LOADED */
    struct model_info info;
    /* GENERATE (flags also for EMBED) */
    uint32_t flags;
    char *prompt;
    char *suffix;
    int32_t *prefix_tokens; /* owned */
    uint32_t n_prefix_tokens;
    uint32_t top_logprobs;
    struct gen_params gen;
    /* TOKEN */
    char *text;
    uint32_t text_len;
    uint32_t n_tokens;
    struct token_probs *probs; /* owned */
    uint32_t n_probs;
    /* EMBED */
    struct strlist inputs;
    uint32_t dimensions;
    /* EMBEDDING (prompt_n and the time travel in stats.prompt_n and stats.prompt_us) */
    float *embeddings; /* n_embeddings x embedding_dim, row-major; owned */
    uint32_t n_embeddings;
    uint32_t embedding_dim;
    /* DONE */
    struct gen_stats stats;
    /* SLOTS_INFO */
    struct slot_info *slots; /* owned */
    uint32_t n_slots;
    uint32_t n_queued;
    /* ERROR */
    int32_t code;
    char *message;
};

void proto_msg_init(struct proto_msg *m, enum proto_type type);
void proto_msg_free(struct proto_msg *m);

/* Encodes m as one frame appended to out. Returns 0 or ERR_TOO_LARGE. */
int proto_encode(const struct proto_msg *m, struct buf *out);

/* Decodes one frame's payload (after the 8-byte header). Returns 0 or ERR_PROTOCOL with a
 * message; m is initialised either way and must be freed. */
int proto_decode(enum proto_type type, const void *payload, size_t len, struct proto_msg *m,
                 struct err *e);

/* Blocking I/O on a socket, restarting on EINTR. proto_send writes one whole message.
 * proto_recv reads one: 0 on success, ERR_WORKER_DIED on EOF or a reset connection,
 * ERR_PROTOCOL on a malformed or oversized frame, ERR_IO otherwise. */
int proto_send(int fd, const struct proto_msg *m, struct err *e);
int proto_recv(int fd, struct proto_msg *m, struct err *e);

/* Writes bytes (encoded frames) whole, restarting on EINTR: 0, ERR_WORKER_DIED when the peer
 * is gone, or ERR_IO. */
int proto_write(int fd, const void *data, size_t len);

/* A reader that takes frames from a stream socket in big reads, so that a burst of messages
 * (every slot's token of one step) costs one system call. */
struct proto_reader {
    int fd;
    struct buf in;
    size_t pos; /* start of the first frame not decoded yet */
};
void proto_reader_init(struct proto_reader *r, int fd);
void proto_reader_free(struct proto_reader *r);
/* Decodes the next complete frame already read: 1 with *m (to be freed), 0 when there is none,
 * or ERR_PROTOCOL. */
int proto_reader_next(struct proto_reader *r, struct proto_msg *m, struct err *e);
/* Reads what the socket has, waiting up to timeout_ms (-1: no limit) for the first byte:
 * 0, 1 when the time ran out, ERR_WORKER_DIED on EOF or a reset, ERR_IO otherwise. */
int proto_reader_fill(struct proto_reader *r, int timeout_ms, struct err *e);

/* Convenience senders used by the worker. */
int proto_send_error(int fd, uint64_t id, int code, const char *message);

#endif
