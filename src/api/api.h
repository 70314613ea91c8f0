/* The API layer: one file per wire protocol (ollama.c; openai.c and anthropic.c from #4), all
 * translating into the same native request (native.c), so generation is implemented once.
 *
 * JSON is parsed here and never passed deeper: handlers turn it into struct native_req and turn
 * native events back into their protocol's JSON.
 */
#ifndef HEARTH_API_API_H
#define HEARTH_API_API_H

#include "base/err.h"
#include "chat/chat.h"
#include "chat/chat_parse.h"
#include "engine/params.h"
#include "engine/proto.h"
#include "net/http.h"
#include "sched/sched.h"
#include "store/preset.h"
#include "store/store.h"

#include <jansson.h>
#include <stdint.h>

/* What every handler reaches: set up by `hearth serve` before the server starts. */
struct api_ctx {
    struct store *store;
    struct sched *sched;
    /* Set on SIGTERM/SIGINT (streams end with a final event); read it with
     * api_shutting_down, as connection threads do while the main thread sets it. */
    int shutting_down;
    int strict_options;        /* HEARTH_STRICT_OPTIONS: unknown options are a 400 */
    const char *default_model; /* serve --model: for llama-server routes that name none */
    int default_ready;         /* 0 loading, 1 loaded, -1 failed (atomic) */
    int32_t num_parallel;      /* slots per model when a request does not say (--parallel) */
    int webui;                 /* GET / serves the web UI to browsers (off: --no-webui) */
};

/* Whether the server is shutting down (ctx->shutting_down, read atomically). */
static inline int api_shutting_down(const struct api_ctx *ctx)
{
    return __atomic_load_n(&ctx->shutting_down, __ATOMIC_ACQUIRE);
}
extern struct api_ctx *api;

/* ---- the native request ---- */

enum native_kind { NATIVE_GENERATE, NATIVE_EMBED, NATIVE_TOKENIZE, NATIVE_DETOKENIZE };

/* tool_choice: AUTO lets the model choose; NONE hides the tools from the template; REQUIRED
 * and FUNCTION force a call with a grammar. */
enum api_tool_choice { API_TOOLS_AUTO, API_TOOLS_NONE, API_TOOLS_REQUIRED, API_TOOLS_FUNCTION };

struct native_req {
    enum native_kind kind;
    char model[STORE_MAX_NAME + 16]; /* canonical name */
    char *path;                      /* the model file; owned */
    char *prompt;                    /* rendered prompt; owned */
    char *suffix;                    /* fill in the middle; owned */
    int32_t *prefix_tokens;          /* owned */
    uint32_t n_prefix_tokens;
    uint32_t flags; /* PROTO_GEN_* or PROTO_EMBED_* */
    uint32_t top_logprobs;
    struct gen_params gen;
    struct load_params load;
    int64_t keep_alive_ms; /* SCHED_KEEP_DEFAULT when the request did not say */
    struct strlist inputs; /* EMBED */
    uint32_t dimensions;
    uint64_t req_set; /* bit i: the request set params table entry i (settings.c) */
    /* What the store says about the model beside its weights (native_resolve; owned): */
    char *model_template; /* a preset's Jinja or Ollama's Go template layer, or NULL */
    int model_template_is_go;
    char *model_system;   /* the default system prompt, or NULL */
    char *model_messages; /* few-shot messages (JSON array), or NULL */
    int allow_path;       /* model may be a file path (names the local user typed) */
    /* Set by api_chat_prompt when the model has no chat template and it fell back to a
     * built-in or the plain format; api_gen_reply adds it to the response's warnings. */
    char prompt_warning[256];
    char *tool_format; /* the preset's tool-call-format, or NULL: detect (owned) */
    /* Tools and reasoning (chat requests; tools.c): */
    json_t *tools; /* canonical tools (chat.h), or NULL; owned */
    enum api_tool_choice tool_choice;
    char tool_name[136];     /* API_TOOLS_FUNCTION: the function that must be called */
    int parallel_tool_calls; /* several calls in one turn (default 1) */
    int think;               /* -1: the template's default; 0 off; 1 on */
    char think_level[8];     /* "low", "medium", "high" or "" */
    json_t *kwargs;          /* chat_template_kwargs (an object), or NULL; owned */
    /* Set by api_chat_prompt for the output parser: */
    int parse; /* split reasoning / tool calls out of the output */
    enum chat_syntax syntax;
    int in_reasoning; /* the prompt left the model inside its reasoning */
    /* A model served by a remote server (README "Remote engines"; remote.h): */
    struct store_remote *remote; /* where, or NULL for a local model; owned */
    json_t *messages;            /* a chat for it, canonical, instead of a prompt; owned */
    uint64_t remote_set;         /* params table entries a preset set (native_resolve): sent
                                  * to it with req_set's; defaults are not (the remote keeps
                                  * its own) */
};

void native_req_init(struct native_req *r, enum native_kind kind);
void native_req_free(struct native_req *r);

/* Finds req->model in the store, sets req->path (or req->remote) and the model_* fields, and
 * fills every parameter the request did not set from the layers beneath it (settings_apply).
 * May be called before or after the request's fields are applied. */
int native_resolve(struct native_req *req, struct err *e);

/* ---- the precedence of settings (settings.c) ---- */

/* Records that the request set parameter `param` (a params-table name or alias), for a field a
 * protocol writes itself (OpenAI's max_tokens, format "json"); api_apply_options records the
 * ones it sets. */
void native_mark(struct native_req *r, const char *param);

/* The parameters of model m before any request: defaults < the GGUF's general.sampling.* < [*]
 * < m->params < the model's preset section. origin (NULL, or one entry per params table row)
 * receives where each value came from. gen and load are initialized here. */
int settings_layers(const struct store_model *m, struct gen_params *gen, struct load_params *load,
                    enum preset_origin *origin);

/* Fills every parameter of req that the request did not set from settings_layers. */
int settings_apply(struct native_req *req, const struct store_model *m);

/* Sets /api/show's `parameters` (Ollama's text: the values that are not defaults, in Modelfile
 * form, e.g. `temperature 0.7`, `stop "<|im_end|>"`) and `hearth_parameters` (every parameter
 * as {name, value, source}; source is a preset_origin_name) on the object show. */
void settings_show(const struct store_model *m, json_t *show);

struct native_job;

/* Loads the model if needed (blocking) and sends the request to its worker. */
int native_start(struct native_req *req, struct native_job **out, struct err *e);

/* The next event: TOKEN, DONE or EMBEDDING in *ev (free with proto_msg_free). Blocks. Returns 0,
 * or an error: the worker's ERROR, ERR_WORKER_DIED (the model's worker is restarted next time),
 * ERR_UNAVAILABLE when the server is shutting down (the generation has been cancelled). */
int native_next(struct native_job *j, struct proto_msg *ev, struct err *e);

/* A one-answer request (EMBED, TOKENIZE, DETOKENIZE): start, take the answer, finish.
 * *load_us gets the load time. */
int native_call(struct native_req *req, struct proto_msg *answer, int64_t *load_us, struct err *e);

/* Stops the generation (the client went away); native_finish then waits for it to end. */
void native_cancel(struct native_job *j);

/* Ends the job: drains what the worker still sends, gives the model back with the request's
 * keep_alive. NULL-safe. */
void native_finish(struct native_job *j);

int64_t native_load_us(const struct native_job *j);
int64_t native_start_us(const struct native_job *j);
const struct model_info *native_info(const struct native_job *j);

/* Loads (keep_alive > 0 or default) or unloads (keep_alive 0) a model without generating:
 * Ollama's empty prompt. *unloaded tells which happened. */
int native_load_only(struct native_req *req, int *unloaded, int64_t *load_us, struct err *e);

/* Asks the worker of a loaded model what its slots are doing (answer: SLOTS_INFO). Returns 0,
 * ERR_NOT_FOUND when the model is not loaded, or the worker's failure. */
int native_slots(const char *model, struct proto_msg *answer, struct err *e);

/* ---- running a generation for a protocol (gen.c) ---- */

struct gen_run;

/* One finished choice, collected for whole (non-streamed) replies. */
struct gen_choice {
    char *text; /* owned; the content when the output was parsed */
    size_t len;
    char *reasoning;    /* owned, or NULL: the reasoning split off the output */
    json_t *tool_calls; /* canonical tool calls (chat.h), or NULL for none; owned */
    json_t *logprobs;   /* [{token, logprob, bytes, top_logprobs}] */
    struct gen_stats stats;
};

/* How a protocol writes a generation. Stream callbacks append bytes to out. */
struct gen_format {
    const char *content_type; /* of streamed replies */
    void (*chunk)(struct gen_run *g, const struct proto_msg *token, struct buf *out);
    /* The end of choice g->choice; last: no choice follows. */
    void (*end)(struct gen_run *g, const struct proto_msg *done, int last, struct buf *out);
    void (*stream_error)(struct gen_run *g, const char *msg, struct buf *out);
    /* Every choice is in g->choices: answer once. */
    void (*whole)(struct gen_run *g, struct http_reply *rep);
    /* An error before anything was sent, in the protocol's shape. */
    void (*error)(struct http_reply *rep, int code, const char *msg);
    void (*free)(void *pctx); /* frees pctx; may be NULL */
    /* A piece of reasoning or one complete tool call of a parsed output (content goes through
     * chunk); NULL: the protocol has no place for them (they are dropped). */
    void (*delta)(struct gen_run *g, const struct chat_delta *d, struct buf *out);
    int probs_with_ids; /* log-probabilities carry token ids (llama-server) */
};

struct gen_run {
    /* Set by the protocol (the struct comes from xcalloc; the runner frees it): */
    const struct gen_format *fmt;
    void *pctx;    /* the protocol's own data */
    int n_choices; /* OpenAI's n (times the prompts); 1 otherwise */
    /* Several prompts: choice i runs prompts[i / (n_choices / prompts.n)]; taken. */
    struct strlist prompts;
    int stream;
    json_t *warnings; /* taken */
    /* Kept by the runner: */
    struct native_req req;
    struct native_job *job;
    int choice;
    struct http_reply *rep;
    int64_t t0;
    int64_t load_us;
    struct gen_choice *choices;
    struct buf out;
    size_t out_pos;
    int done, counted, have_first;
    struct proto_msg first;
    struct chat_parser *parser; /* the current choice's, when req.parse */
};

/* A run for fmt with the protocol's data (taken) and the request's warnings (a new reference is
 * kept). */
struct gen_run *api_gen_new(const struct gen_format *fmt, void *pctx, int stream, json_t *warnings);

/* Runs req (taken) and answers through g->fmt: a stream when g->stream, else one reply. */
void api_gen_reply(struct gen_run *g, struct native_req *req, struct http_reply *rep);
int64_t api_gen_elapsed_us(const struct gen_run *g);

/* The tool calls of the current (streamed) choice so far: canonical, borrowed; empty when the
 * output is not parsed. */
size_t api_gen_n_tool_calls(const struct gen_run *g);

/* ---- tools and reasoning (tools.c) ---- */

/* Reads a request's tools into req->tools (canonical). anthropic: Anthropic's
 * {name, description, input_schema} instead of OpenAI's and Ollama's {type:"function",
 * function:{name, description, parameters}}. ERR_BAD_REQUEST / ERR_TOO_LARGE naming what is
 * wrong; NULL or [] is no tools. */
int api_tools_set(struct native_req *req, json_t *tools, int anthropic, struct err *e);
/* OpenAI's tool_choice ("none", "auto", "required", {type:"function", function:{name}}) and
 * parallel_tool_calls; call after api_tools_set. */
int api_tool_choice_openai(struct native_req *req, json_t *choice, json_t *parallel, struct err *e);
/* Anthropic's tool_choice {type: auto|any|tool|none, name, disable_parallel_tool_use}. */
int api_tool_choice_anthropic(struct native_req *req, json_t *choice, struct err *e);
/* Ollama's think: true, false, "low", "medium", "high" (NULL: not set). */
int api_think_set(struct native_req *req, json_t *think, struct err *e);
/* OpenAI's reasoning_effort ("none", "minimal", "low", "medium", "high") and
 * chat_template_kwargs (llama-server): either may be NULL. */
int api_reasoning_openai(struct native_req *req, json_t *effort, json_t *kwargs, struct err *e);
/* An assistant message's tool calls from a request (OpenAI's and Ollama's shape, arguments an
 * object or a JSON string holding one) into canonical calls appended to m["tool_calls"]. where
 * names the message in errors. */
int api_tool_calls_in(json_t *calls, json_t *m, const char *where, struct err *e);

/* A TOKEN event's log-probabilities as [{token, logprob, bytes, top_logprobs}] (and "id" for
 * every token when with_ids). */
json_t *api_probs_json(const struct proto_msg *ev, int with_ids);

/* ---- JSON helpers ---- */

/* Sets a JSON error reply {"error": msg} with the status that answers code. */
void api_error(struct http_reply *rep, int code, const char *msg);
void api_errorf(struct http_reply *rep, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Serializes obj (stolen) as the reply body. In an error (status >= 400), the folders given to
 * api_redact_add are replaced. */
void api_reply(struct http_reply *rep, int status, json_t *obj);

/* Error replies show "ROOT/x" as "WITHx": the server's model folders as "" (a file's place in
 * its store), the home directory as "~/". Set up before the server starts; not thread-safe. */
void api_redact_add(const char *root, const char *with);
void api_redact_clear(void);
/* text with the folders replaced (malloc'd). */
char *api_redact(const char *text);

/* The error reply of a protocol (api_error for Ollama's shape, openai_error...). */
typedef void (*api_error_fn)(struct http_reply *rep, int code, const char *msg);

/* The deepest nesting of arrays and objects in JSON text (a scan, no parse; text that is not
 * JSON gives some number, and the parser then refuses it). */
#define API_MAX_JSON_DEPTH 64
size_t api_json_depth(const char *text, size_t len);

/* Parses a request body as a JSON object; on failure answers 400 through error and returns
 * NULL. Nesting deeper than API_MAX_JSON_DEPTH is refused before parsing. */
json_t *api_parse_body(const struct http_request *req, struct http_reply *rep, api_error_fn error);

/* Typed field access: 0 when absent (out untouched) or well-typed, ERR_BAD_REQUEST with a
 * message naming the field otherwise. */
int api_get_str(json_t *obj, const char *key, const char **out, struct err *e);
int api_get_bool(json_t *obj, const char *key, int *out, struct err *e);
int api_get_int(json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out,
                struct err *e);

/* Applies an options object (Ollama's `options`, llama-server's top-level fields) to req's gen
 * and load parameters, and records each one set in req->req_set. Unknown keys and keys
 * llama.cpp no longer has are appended to warnings (or refused when api->strict_options); bad
 * values are ERR_BAD_REQUEST. A list (stop) replaces the one of lower layers. */
int api_apply_options(json_t *opts, struct native_req *req, json_t *warnings, struct err *e);

/* Reads a JSON list of token ids into req->prefix_tokens. field names it in the message.
 * Returns 0 or ERR_BAD_REQUEST / ERR_TOO_LARGE. */
int api_get_tokens(json_t *arr, const char *field, struct native_req *req, struct err *e);

/* Applies a request's top-level fields that name engine knobs (temperature, top_k, num_ctx...),
 * for the APIs that take them beside their own fields. Keys in skip are the protocol's own and
 * left alone. only_known: other unknown keys are ignored (the API has fields we do not use)
 * rather than reported as warnings. */
int api_apply_fields(json_t *body, const char *const *skip, size_t n_skip, int only_known,
                     struct native_req *req, json_t *warnings, struct err *e);

/* RFC 3339 time with nanoseconds, as Ollama writes created_at. */
void api_time_now(char *out, size_t len);
void api_time_fmt(time_t t, char *out, size_t len);

/* The GBNF grammar of any JSON value, for format:"json". */
extern const char api_json_grammar[];

/* Structured output (structured.c): sets req's grammar from a JSON schema (borrowed), or to any
 * JSON object when schema is NULL. field names the request field in messages ("format",
 * "response_format"). ERR_BAD_REQUEST when the request already has a grammar or the schema cannot
 * be converted (the message names the keyword and its place in the schema). */
int api_schema_grammar(struct native_req *req, json_t *schema, const char *field, struct err *e);

/* Checks a GBNF grammar before it reaches libllama (grammar/gbnf.h): 0, or ERR_BAD_REQUEST with
 * the place and the problem. NULL or "" is no grammar. */
int api_check_grammar(const char *grammar, struct err *e);

/* Streams being written right now (shutdown waits for them to end). */
int api_active_streams(void);

/* Route handlers: the Ollama routes of ollama_models.c, and the tables. */
void ollama_root(const struct http_request *req, struct http_reply *rep);
void ollama_version(const struct http_request *req, struct http_reply *rep);
void ollama_tags(const struct http_request *req, struct http_reply *rep);
void ollama_ps(const struct http_request *req, struct http_reply *rep);
void ollama_show(const struct http_request *req, struct http_reply *rep);
void ollama_copy(const struct http_request *req, struct http_reply *rep);
void ollama_delete(const struct http_request *req, struct http_reply *rep);
void ollama_routes(const struct http_route **routes, int *n);
void openai_routes(const struct http_route **routes, int *n);
void anthropic_routes(const struct http_route **routes, int *n);
void llama_routes(const struct http_route **routes, int *n);
void metrics_routes(const struct http_route **routes, int *n);
void responses_routes(const struct http_route **routes, int *n);
/* Ollama's /api/blobs (blobs.c) and /api/create (create.c). */
void blobs_routes(const struct http_route **routes, int *n);
void blobs_upload_routes(const struct http_upload_route **routes, int *n);
void create_routes(const struct http_route **routes, int *n);
void pull_routes(const struct http_route **routes, int *n); /* pull.c */
/* llama-server's router: GET /models, /v1/models, POST /models/load, /models/unload. */
void models_routes(const struct http_route **routes, int *n);

/* Metrics (metrics.c); every function is thread-safe. */
void metrics_request(const char *route, int status);
void metrics_generation(const struct gen_stats *st);
void metrics_first_token(double seconds);
void metrics_worker_restart(void);

/* The model's chat template from its GGUF (malloc'd), or NULL when it has none (or path is
 * NULL). */
char *api_model_template(const char *path);

/* Renders a chat (canonical messages, chat/chat.h; borrowed) for req's model into req->prompt:
 * the model's default system prompt when it has none, its few-shot messages, then the chat; through
 * the chat template chosen as DESIGN.md says (a preset's chat-template, else the GGUF's own, else
 * Ollama's template layer), with the GGUF's BOS and EOS token texts; a model with none falls back
 * to llama.cpp's built-in format for its architecture or to the plain format, and says so in
 * req->prompt_warning; with req's tools and kwargs, and the output parser's settings. Sets
 * PROTO_GEN_PARSE_SPECIAL, and PROTO_GEN_NO_BOS when the template wrote the BOS text itself.
 * ERR_BAD_REQUEST when the template fails (raise_exception, a cap, an error: the message names the
 * template line). */
int api_chat_prompt(struct native_req *req, json_t *messages, struct err *e);
/* More messages than this in one conversation is ERR_TOO_LARGE (api_chat_prompt). */
#define API_MAX_MESSAGES 10000
/* Which template api_chat_prompt uses: "preset", "gguf", "ollama" or NULL for none; *out gets
 * a copy of it (free it) when out is not NULL. */
const char *api_chat_template(const struct native_req *req, char **out);
void anthropic_error(struct http_reply *rep, int code, const char *msg);
/* llama-server's error shape: {"error":{"code","message","type"}} (llama.c). */
void llama_error(struct http_reply *rep, int code, const char *msg);

/* OpenAI's error shape: {"error":{"message","type","param","code"}}. */
void openai_error(struct http_reply *rep, int code, const char *msg);

/* Renders a list of {role, content} messages (content a string or text parts), with an optional
 * system prompt first, through the model's chat template into req->prompt. */
int api_render_messages(struct native_req *req, json_t *messages, const char *system,
                        struct err *e);
void api_not_found(const struct http_request *req, struct http_reply *rep);

/* ---- the guard in front of every route (guard.c) ---- */

struct api_guard_config {
    const char *const *keys; /* API keys (copied as SHA-256 digests); none: no key needed */
    int n_keys;
    int check_host;        /* bound to loopback: refuse Host names that are not ours (403) */
    const char *bind_host; /* the address bound, an allowed Host */
    const char *hosts;     /* more allowed Host names, comma-separated (".x.org": any under it) */
    const char *origins;   /* more CORS origins, comma-separated fnmatch patterns; "*": any */
};

/* Sets up the guard for the process (one server). ERR_BAD_REQUEST for an empty key. */
int api_guard_init(const struct api_guard_config *c, struct err *e);
void api_guard_free(void);
int api_guard_has_keys(void);
/* The http_config guard: Host (403), Origin (403), OPTIONS preflights (204), keys (401), each
 * refusal in the shape of the path's API. Returns 1 when it answered. Any thread. */
int api_guard(const struct http_request *req, struct http_reply *rep);
/* The error shape of the API path belongs to (Ollama's for /api/, Anthropic's for
 * /v1/messages, OpenAI's for /v1/, llama-server's for the rest). */
api_error_fn api_error_for_path(const char *path);
/* The http_config too_large callback: the code's reply (413, 414, 431) in the path's shape. */
void api_too_large(const struct http_request *req, struct http_reply *rep, int code,
                   const char *msg);

void api_bad_method(const struct http_request *req, struct http_reply *rep);

#endif
