/* The hearth commands. Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 a runtime failure (with a one-line "hearth: error: ..." on stderr), 2 a usage
 * error, 130 interrupted. */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

#include "engine/params.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

int cmd_run(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_ps(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_bundle(int argc, char **argv);

/* `hearth serve`'s body. bundle_presets: a bundle's preset text (with its `model` key), served
 * as the only presets, with no Hugging Face or Ollama store; bundle_model: its model's name, the
 * default model (as --model NAME) unless --model is given. Both NULL for hearth serve itself. */
int cli_serve_main(int argc, char **argv, const char *bundle_presets, const char *bundle_model);

/* What a bundle's preset says about its model, for `run` on it. */
struct run_preset {
    const char *prog;      /* the bundle's name as typed, for --help */
    const char *name;      /* the model's name, for the REPL's /show */
    struct strlist params; /* "name=value", applied before the command line's flags */
    const char *system;    /* the system prompt, or NULL */
    const char *tmpl;      /* a Jinja chat template in place of the GGUF's, or NULL */
};
/* `hearth run PATH ARGS...` with a preset's defaults: ARGS are run's flags and the prompt (a
 * prompt is rendered through the chat template, when there is one, as a one-turn chat). */
int cli_run_preset(const char *path, const struct run_preset *rp, int argc, char **argv);
/* run's --help; bundle: the bundle's name as typed, for its own usage line (NULL: hearth run). */
void cli_run_usage(const char *bundle);

/* When this executable is a bundle (engine/bundle.h): checks it and runs the command argv asks
 * of it, returning 1 with the exit status in *status. Returns 0 when it is plain hearth. */
int cli_bundle_main(int argc, char **argv, int *status);

/* The command table (main.c): usage, per-command --help and shell completion come from it. */
struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;  /* e.g. "MODEL [PROMPT]" */
    const char *help;  /* one line */
    const char *flags; /* space-separated, for completion; NULL: made from a table (run's from
                          the params table, serve's and config's from the settings table) */
    int own_help;      /* the command answers --help itself */
};
extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;

/* ---- the chat REPL (repl.c) ---- */

/* What the REPL's /set commands changed; the backend reads it on every turn. */
struct repl_state {
    char model[256];
    struct strlist params; /* "name=value" for each /set parameter (a list: one per value) */
    char *system;          /* /set system, or NULL */
    char *format; /* JSON text: "\"json\"" (/set format json, --format json) or a schema (--format);
                     NULL: none */
    int think;    /* -1 the model's default, 0 /set nothink, 1 /set think */
    int verbose;  /* /set verbose: timings after each answer */
    int history;  /* lines go to the history file (HEARTH_NOHISTORY=1 starts it off) */
    volatile int *interrupt; /* bumped by SIGINT */
};

struct repl_ops {
    void *ud;
    /* One turn: messages (canonical, chat/chat.h; the system message first) in, the answer
     * streamed to stdout, its text in *reply (malloc'd, also when cancelled). Returns 0, 1 (an
     * error, printed) or 130 (Ctrl-C). */
    int (*chat)(void *ud, const struct repl_state *st, json_t *messages, char **reply);
    /* /show WHAT: prints it. */
    void (*show)(void *ud, const struct repl_state *st, const char *what);
    /* /load NAME: 0 when st->model now names it (else the error is printed); NULL: no /load. */
    int (*load)(void *ud, struct repl_state *st, const char *name);
    /* /save NAME: 0 when created; NULL: no /save. */
    int (*save)(void *ud, const struct repl_state *st, const char *name);
    /* After a failed turn: 1 when the session cannot go on (the worker died). May be NULL. */
    int (*fatal)(void *ud);
};

/* Runs the REPL until /bye or Ctrl-D. Returns the exit status (0, or 1 after a fatal error). */
int repl_run(struct repl_state *st, const struct repl_ops *ops);

/* `hearth run NAME` on a terminal: the REPL through the server. */
int cli_repl_remote(const char *model, const struct strlist *given, const char *format, int verbose,
                    volatile int *interrupt);

/* 1 when stdout (stderr) is a terminal and NO_COLOR is unset (and TERM is not "dumb"). */
int cli_color_stdout(void);
int cli_color_stderr(void);

/* A spinner with msg on stderr until stopped, drawn only on a terminal and only after 300 ms;
 * stop clears its line. start returns NULL off a terminal; stop(NULL) does nothing. */
struct spinner;
struct spinner *cli_spinner_start(const char *msg);
void cli_spinner_stop(struct spinner *s);

/* --verbose's timings on stderr, as Ollama prints them, from a final /api/generate or /api/chat
 * object. */
void cli_print_timings(json_t *final);

/* The Ollama options object of "name=value" strings, typed by the parameter table. */
json_t *cli_options_json(const struct strlist *given);

/* Prints "  head" then text from column indent, wrapped at 100 columns. */
void cli_wrap(FILE *out, const char *head, int indent, const char *text);

struct strlist;
/* `hearth run NAME` through a running server: given holds "name=value" parameter flags;
 * format (NULL for none) is the JSON text of Ollama's `format` ("json" or a schema).
 * prompt NULL opens the interactive loop. Returns the exit status. */
int cli_run_remote(const char *model, const char *prompt, const struct strlist *given,
                   const char *format, int verbose, volatile int *interrupt);

/* "4.7 GB": decimal units, as Ollama prints sizes. */
void cli_human_size(double bytes, char *out, size_t len);

/* Parses HOST[:PORT], [V6]:PORT, :PORT or http://host:port into host and port (11434 when
 * absent). Returns 0 or ERR_BAD_REQUEST. */
int cli_parse_host(const char *in, char *host, size_t host_len, unsigned short *port);

/* `hearth serve`'s access settings (serve_secure.c): what serve_secure_setup made of the
 * settings (owned; serve_secure_free frees them). */
struct http_config;
struct settings;
struct serve_secure {
    char **keys;
    int n_keys;
    char *cert_pem, *key_pem;
};

/* Reads the keys (--api-key, HEARTH_API_KEY, --api-key-file), refuses a non-loopback host
 * without one (unless --insecure-no-auth), reads the TLS files and limits into cfg, and sets
 * cfg's guard. Returns 0, or -1 after printing why. */
int serve_secure_setup(struct serve_secure *s, const struct settings *set, const char *host,
                       struct http_config *cfg);
void serve_secure_free(struct serve_secure *s);
/* Keeps the store's folders and the home directory out of error replies (api_redact_add). */
struct store;
void serve_secure_redact(const struct store *st);

/* The folders of HEARTH_MODELS_DIR (':'-separated), at most max, appended to dirs; returns the
 * string they point into (free it after), NULL when the variable is unset. */
char *cli_env_dirs(char **dirs, int *n_dirs, int max);

/* The presets file a command without a server uses: arg (--models-preset), else
 * HEARTH_MODELS_PRESET, else the default path. */
void cli_presets_path(const char *arg, char *out, size_t len);

/* Prints "hearth: error: MSG" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
