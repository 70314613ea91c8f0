/* The hearth commands. Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 a runtime failure (with a one-line "hearth: error: ..." on stderr), 2 a usage
 * error, 130 interrupted. */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

#include <stddef.h>

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

struct strlist;
/* `hearth run NAME` through a running server: given holds "name=value" parameter flags.
 * prompt NULL opens the interactive loop. Returns the exit status. */
int cli_run_remote(const char *model, const char *prompt, const struct strlist *given, int verbose,
                   volatile int *interrupt);

/* The interactive loops' prompt: prints ">>> " and reads a line into *line (a getline buffer).
 * Returns 1 for a prompt, 0 to leave (Ctrl-D, /bye, /exit). Ctrl-C at the prompt (which bumps
 * *interrupts) clears the line and asks again. */
int cli_read_prompt(char **line, size_t *cap, volatile int *interrupts);

/* "4.7 GB": decimal units, as Ollama prints sizes. */
void cli_human_size(double bytes, char *out, size_t len);

/* Parses HOST[:PORT], [V6]:PORT, :PORT or http://host:port into host and port (11434 when
 * absent). Returns 0 or ERR_BAD_REQUEST. */
int cli_parse_host(const char *in, char *host, size_t host_len, unsigned short *port);

/* `hearth serve`'s access settings (serve_secure.c): the flags' values as given (NULL when
 * absent), then what serve_secure_setup made of them (owned; serve_secure_free frees them). */
struct http_config;
struct serve_secure {
    const char *api_key_arg, *api_key_file, *ssl_cert_arg, *ssl_key_arg, *max_body_arg,
        *timeout_arg;
    int insecure_no_auth;
    char **keys;
    int n_keys;
    char *cert_pem, *key_pem;
};

/* Reads the keys (flag, file, HEARTH_API_KEY), refuses a non-loopback host without one (unless
 * insecure_no_auth), reads the TLS files and limits into cfg, and sets cfg's guard. Returns 0,
 * or -1 after printing why. */
int serve_secure_setup(struct serve_secure *s, const char *host, struct http_config *cfg);
void serve_secure_free(struct serve_secure *s);
/* Keeps the store's folders and the home directory out of error replies (api_redact_add). */
struct store;
void serve_secure_redact(const struct store *st);

/* Prints "hearth: error: MSG" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
