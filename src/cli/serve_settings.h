/* The settings of `hearth serve`: one table of every flag and environment variable, with its
 * default, help text and how its value is checked. `hearth serve` reads its flags and variables
 * through it, `hearth serve --help` and the README's block are printed from it, shell completion
 * offers its flags, and `hearth config` shows the effective value of each and where it came from.
 *
 * Precedence: a flag wins over its variables, which are tried in the order listed (HEARTH_X,
 * then Ollama's OLLAMA_X where it has one); an empty variable counts as unset. A setting marked
 * SETTING_ADDS joins all its variables instead. Settings without a flag are read from the
 * environment only, some of them where they are used (a worker, a pull): those marked
 * SETTING_LENIENT are not refused at start; their reader warns about a bad value and uses the
 * default, and serve_settings_read only notes it for `hearth config`. */
#ifndef HEARTH_CLI_SERVE_SETTINGS_H
#define HEARTH_CLI_SERVE_SETTINGS_H

#include "engine/params.h"

#include <stdint.h>
#include <stdio.h>

enum setting_id {
    SETTING_HOST,
    SETTING_MODELS_DIR,
    SETTING_MODELS_PRESET,
    SETTING_MODEL,
    SETTING_KEEP_ALIVE,
    SETTING_PARALLEL,
    SETTING_MAX_MEMORY,
    SETTING_MAX_LOADED_MODELS,
    SETTING_MAX_QUEUE,
    SETTING_NO_METRICS,
    SETTING_NO_WEBUI,
    SETTING_API_KEY,
    SETTING_API_KEY_FILE,
    SETTING_INSECURE_NO_AUTH,
    SETTING_SSL_CERT_FILE,
    SETTING_SSL_KEY_FILE,
    SETTING_MAX_BODY,
    SETTING_TIMEOUT,
    SETTING_HEADER_TIMEOUT,
    SETTING_WRITE_TIMEOUT,
    /* environment only */
    SETTING_LOAD_TIMEOUT,
    SETTING_STALL_TIMEOUT,
    SETTING_STRICT_OPTIONS,
    SETTING_ALLOWED_HOSTS,
    SETTING_ORIGINS,
    SETTING_LOG_LEVEL,
    SETTING_PROMPT_CACHE_DIR,
    SETTING_PROMPT_CACHE_RAM_MB,
    SETTING_PROMPT_CACHE_MAX_MB,
    SETTING_MAX_BLOB_GB,
    SETTING_OLLAMA_MODELS,
    SETTING_HF_HUB_CACHE,
    SETTING_HF_ENDPOINT,
    SETTING_HF_TOKEN,
    SETTING_HF_HUB_OFFLINE,
    SETTING_OLLAMA_REGISTRY,
    SETTING_PULL_RETRIES,
    SETTING_PULL_STALL_S,
    SETTING_PULL_SEGMENTS,
    SETTING_PULL_SEGMENT_MIN_MB,
    SETTING_COUNT
};

/* How a value is checked and what serve_settings_read makes of it. */
enum setting_kind {
    SETTING_KIND_SWITCH,   /* a flag without a value: num 1 when given */
    SETTING_KIND_TEXT,     /* any text */
    SETTING_KIND_PATH,     /* a file or folder (checked where it is opened) */
    SETTING_KIND_LIST,     /* a repeatable flag; a variable holds the items separated by sep */
    SETTING_KIND_HOST,     /* HOST[:PORT] (cli_parse_host) */
    SETTING_KIND_DURATION, /* a Go duration or seconds; num in ms; at least min (ms) */
    SETTING_KIND_SIZE,     /* 6GiB, 800MB...; num in bytes, from min to max */
    SETTING_KIND_INT,      /* a whole number from min to max */
    SETTING_KIND_BOOL,     /* a variable: set, and not "0", is true (num 1) */
    SETTING_KIND_CHOICE,   /* one of the words in choices */
};

#define SETTING_SECRET  1u /* `hearth config` shows whether it is set, never the value */
#define SETTING_LENIENT 2u /* read where it is used; a bad value is warned about there */
#define SETTING_ADDS    4u /* every variable adds its items (comma-separated) */

struct setting {
    const char *name;       /* "max-memory": the long flag without "--", or a name for `config` */
    const char *flag;       /* "--max-memory"; NULL: environment only */
    const char *short_flag; /* "-np"; NULL: none */
    const char *arg;        /* "SIZE"; NULL for a switch */
    const char *env[2];     /* in order of precedence; NULL-padded */
    const char *def;        /* the default as users read it; NULL: none (unset) */
    enum setting_kind kind;
    unsigned flags;       /* SETTING_SECRET, SETTING_LENIENT, SETTING_ADDS */
    int64_t min, max;     /* INT, SIZE, DURATION */
    const char *expected; /* what a bad value is told it should be */
    const char *choices;  /* CHOICE: space-separated words; LIST: the variables' separator */
    const char *help;     /* one or a few sentences, no trailing period */
};

/* The table, indexed by enum setting_id. Static; never freed. */
extern const struct setting serve_settings_table[SETTING_COUNT];

enum setting_source { SETTING_FROM_DEFAULT, SETTING_FROM_ENV, SETTING_FROM_FLAG };

struct setting_value {
    const char *text; /* what set it (the flag's argument or the variable; the
                         variables joined by ',' for SETTING_ADDS); NULL: the default */
    enum setting_source source;
    const char *from;    /* the flag as typed, or the variable(s); NULL for the default */
    int64_t num;         /* INT, BOOL, SWITCH; DURATION in ms; SIZE in bytes; from the
                            default when it is one (e.g. "5m"), else 0 */
    struct strlist list; /* LIST: the items, flags' or the variable's (owned) */
    char *ignored;       /* LENIENT: why the variable's value will not be used (owned) */
    char *own;           /* storage of text when serve_settings_read made it */
    char from_buf[64];   /* storage of from for SETTING_ADDS */
};

struct settings {
    struct setting_value v[SETTING_COUNT];
};

#define SERVE_SETTINGS_HELP 1

/* Reads serve's arguments, then the environment, into s (which it initialises: call
 * serve_settings_free after any return). Returns 0; SERVE_SETTINGS_HELP when -h or --help was
 * given; or 2 after printing one "hearth: error: ..." line (an unknown flag, a flag without its
 * value, a bad value). Items of a LIST variable are capped at 64. */
int serve_settings_read(struct settings *s, int argc, char **argv);
void serve_settings_free(struct settings *s);

/* `hearth serve --help`, made from the table. */
void serve_settings_usage(FILE *out);

/* The flags, space-separated (--help included), for shell completion. */
void serve_settings_flags(char *out, size_t len);

/* The effective value of setting id as text into out: its text, else its default (computed
 * where the default depends on the machine, e.g. the presets file's path); "" when unset.
 * A SETTING_SECRET that is set reads "(set, hidden)". */
void serve_settings_value(const struct settings *s, enum setting_id id, char *out, size_t len);

#endif
