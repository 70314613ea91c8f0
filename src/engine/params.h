/* Generation and load parameters, and the one table that describes them.
 *
 * Every engine knob is a field of struct gen_params (per request: sampling, stops, grammar) or
 * struct load_params (per loaded model: context, batch, threads, offload). The table below names
 * each one once with its type, range, default and help text; the CLI flags, the worker protocol
 * and (from #3 on) the Ollama `options`, OpenAI extra fields and presets are all driven by it, so
 * a knob added here is reachable everywhere.
 *
 * Names follow Ollama's options where Ollama has the knob (temperature, num_ctx, repeat_last_n)
 * and llama-server's request fields otherwise (dry_multiplier, xtc_probability, top_n_sigma).
 * The CLI spells them with dashes (--repeat-last-n); `alias` holds llama.cpp's CLI name where it
 * differs (--temp, --ctx-size).
 */
#ifndef HEARTH_ENGINE_PARAMS_H
#define HEARTH_ENGINE_PARAMS_H

#include "base/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Caps on what a request may carry. */
#define PARAMS_MAX_STOPS       32
#define PARAMS_MAX_STOP_LEN    4096
#define PARAMS_MAX_BREAKERS    32
#define PARAMS_MAX_BREAKER_LEN 256
#define PARAMS_MAX_LOGIT_BIAS  1024
#define PARAMS_MAX_GRAMMAR_LEN (1 << 20)
#define PARAMS_MAX_STR_LEN     4096

struct strlist {
    char **v; /* owned, each element too */
    int n;
};

struct logit_bias_entry {
    int32_t token;
    float bias; /* -INFINITY bans the token */
};

struct gen_params {
    int32_t num_predict; /* -1: until EOS or the context is full */
    float temperature;   /* <= 0: greedy */
    int32_t top_k;
    float top_p;
    float min_p;
    float typical_p;
    float repeat_penalty;
    int32_t repeat_last_n; /* -1: the whole context */
    float presence_penalty;
    float frequency_penalty;
    int32_t mirostat; /* 0 off, 1 or 2 */
    float mirostat_tau;
    float mirostat_eta;
    float dry_multiplier;
    float dry_base;
    int32_t dry_allowed_length;
    int32_t dry_penalty_last_n;
    float xtc_probability;
    float xtc_threshold;
    float top_n_sigma;
    float dynatemp_range;
    float dynatemp_exponent;
    int32_t min_keep;
    int32_t num_keep; /* prompt tokens kept when a prompt is truncated to fit */
    int64_t seed;     /* -1: random */
    bool ignore_eos;
    bool context_shift;       /* on a full context, drop the oldest half after num_keep and go on */
    char *grammar;            /* GBNF, owned; NULL or "" for none */
    int32_t reasoning_budget; /* tokens of thinking before reasoning_end is written; -1 any */
    char *reasoning_end;      /* the text that closes the model's reasoning (set from the chat
                                 template by the API layer, e.g. "\n</think>\n\n"); owned */
    struct strlist stop;
    struct strlist dry_sequence_breakers; /* empty: llama.cpp's defaults */
    struct logit_bias_entry *logit_bias;  /* owned */
    int n_logit_bias;
};

enum flash_attn_mode { FLASH_ATTN_AUTO = -1, FLASH_ATTN_OFF = 0, FLASH_ATTN_ON = 1 };

struct load_params {
    int32_t num_ctx;      /* tokens per slot; 0: min(4096, trained context) */
    int32_t num_parallel; /* slots; 0: the caller's default (1 in the worker) */
    int32_t num_batch;
    int32_t num_ubatch;
    int32_t num_thread; /* 0: one per online CPU */
    int32_t num_gpu;    /* layers to offload; -1: as many as fit (engine/offload.h) */
    bool use_mmap;
    bool use_mlock;
    int32_t flash_attn; /* enum flash_attn_mode */
    char *cache_type_k; /* "f16", "q8_0", ...; owned */
    char *cache_type_v;
    float rope_freq_base;  /* 0: from the model */
    float rope_freq_scale; /* 0: from the model */
};

enum param_type {
    PARAM_INT,   /* int32_t */
    PARAM_I64,   /* int64_t */
    PARAM_FLOAT, /* float */
    PARAM_BOOL,  /* bool */
    PARAM_STR,   /* char *, owned */
    PARAM_LIST,  /* struct strlist, repeatable on the CLI */
    PARAM_BIAS,  /* logit bias entries, repeatable on the CLI as TOKEN(+|-)BIAS */
};

enum param_group { PARAM_GEN, PARAM_LOAD };

struct param_desc {
    const char *name;  /* canonical name: Ollama option / API field */
    const char *alias; /* llama.cpp's CLI spelling, or NULL */
    enum param_group group;
    enum param_type type;
    size_t offset;
    double min, max;  /* inclusive range for numbers */
    double def;       /* default for numbers and bools */
    const char *sdef; /* default for strings, or NULL */
    size_t max_len;   /* cap for strings and list elements */
    int max_count;    /* cap for lists */
    const char *help;
};

/* Frees the strings and the array; the list is empty afterwards. NULL-safe. */
void strlist_free(struct strlist *l);
/* Appends a copy of s. */
void strlist_add(struct strlist *l, const char *s);

/* The table, in the order the CLI help lists it; *n receives its length. */
const struct param_desc *params_table(int *n);

/* 1 for an option Ollama or llama.cpp once had and no longer does (tfs_z, penalize_newline,
 * numa...): requests and presets accept it with a warning or refuse it by name, never as an
 * unknown option. */
int params_is_retired(const char *name);

/* Finds a parameter by canonical name or alias, with '-' and '_' treated alike. */
const struct param_desc *params_find(const char *name);

void gen_params_init(struct gen_params *p); /* built-in defaults */
void gen_params_free(struct gen_params *p); /* NULL-safe */
void load_params_init(struct load_params *p);
void load_params_free(struct load_params *p);

/* Sets one parameter from its text form (CLI value, preset value). Lists and logit bias append.
 * Returns 0 or ERR_BAD_REQUEST with a message naming the parameter and the allowed range. */
int params_set_text(void *group_struct, const struct param_desc *d, const char *value,
                    struct err *e);

/* Checks every field against its range and caps (for structs filled by other means). */
int gen_params_validate(const struct gen_params *p, struct err *e);
int load_params_validate(const struct load_params *p, struct err *e);

#endif
