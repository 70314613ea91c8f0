/* The hearth commands. Each takes the arguments after its name and returns the exit status:
 * 0 success, 1 a runtime failure (with a one-line "hearth: error: ..." on stderr), 2 a usage
 * error, 130 interrupted. */
#ifndef HEARTH_CLI_CLI_H
#define HEARTH_CLI_CLI_H

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

/* The command table (main.c): usage, per-command --help and shell completion come from it. */
struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *args;  /* e.g. "MODEL [PROMPT]" */
    const char *help;  /* one line */
    const char *flags; /* space-separated, for completion; NULL: run's, from the params table */
    int own_help;      /* the command answers --help itself */
};
extern const struct cli_command cli_commands[];
extern const size_t cli_n_commands;

/* Prints "  head" then text from column indent, wrapped at 100 columns. */
void cli_wrap(FILE *out, const char *head, int indent, const char *text);

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

/* Prints "hearth: error: MSG" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
