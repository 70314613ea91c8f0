/* The chat REPL of `hearth run` on a terminal: libedit line editing and history, multi-line
 * input between """, slash commands, and a conversation kept across turns. What a turn does
 * (a server's /api/chat, or a worker this process started) is behind struct repl_ops. */
#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "engine/params.h"

#include <editline/readline.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REPL_MAX_INPUT (1u << 20) /* one prompt, multi-line included */

static int color_fd(int fd)
{
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    return isatty(fd) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
}

int cli_color_stdout(void)
{
    return color_fd(STDOUT_FILENO);
}

int cli_color_stderr(void)
{
    return color_fd(STDERR_FILENO);
}

static void history_path(char *out, size_t len)
{
    const char *p = getenv("HEARTH_HISTORY");
    if (p && *p) {
        snprintf(out, len, "%s", p);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, len, "%s/.hearth/history", home && *home ? home : ".");
}

static int history_on(void)
{
    const char *v = getenv("HEARTH_NOHISTORY");
    if (!v)
        v = getenv("OLLAMA_NOHISTORY");
    return !(v && *v && strcmp(v, "0") != 0 && strcmp(v, "false") != 0);
}

/* One line from the terminal (libedit) or from stdin. Returns the line (malloc'd), or NULL at
 * the end of input; *interrupted is set when Ctrl-C ended the line. */
static char *read_line(const char *prompt, volatile int *interrupts, int *interrupted)
{
    *interrupted = 0;
    int before = *interrupts;
    if (isatty(STDIN_FILENO)) {
        errno = 0;
        char *l = readline(prompt);
        if (!l && (errno == EINTR || *interrupts != before))
            *interrupted = 1;
        return l;
    }
    fputs(prompt, stdout);
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        if (errno == EINTR || *interrupts != before)
            *interrupted = 1;
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    return line;
}

/* A prompt: one line, or the lines between """ and """. Returns 1 with *out (malloc'd), 0 at
 * the end of input. Ctrl-C clears what was typed and asks again. */
static int read_prompt(struct repl_state *st, char **out)
{
    for (;;) {
        int intr;
        char *l = read_line(">>> ", st->interrupt, &intr);
        if (!l) {
            if (intr) {
                fputs("^C\n", stdout);
                continue;
            }
            fputc('\n', stdout);
            return 0;
        }
        if (strncmp(l, "\"\"\"", 3) != 0) {
            if (!*l) {
                free(l);
                continue;
            }
            if (st->history)
                add_history(l);
            *out = l;
            return 1;
        }
        /* Multi-line: everything up to a line that ends with """. */
        struct buf b;
        buf_init(&b, REPL_MAX_INPUT);
        int ok = 1, too_long = 0;
        const char *first = l + 3;
        char *cur = l;
        for (int line_no = 0;; line_no++) {
            const char *text = line_no == 0 ? first : cur;
            size_t n = strlen(text);
            int end = n >= 3 && !strcmp(text + n - 3, "\"\"\"") && !(line_no == 0 && n == 0);
            if (line_no > 0)
                too_long |= buf_puts(&b, "\n") != 0;
            too_long |= buf_append(&b, text, end ? n - 3 : n) != 0;
            free(cur);
            cur = NULL;
            if (end)
                break;
            cur = read_line("... ", st->interrupt, &intr);
            if (!cur) {
                ok = 0;
                fputs(intr ? "^C\n" : "\n", stdout);
                break;
            }
        }
        if (!ok || too_long) {
            if (too_long)
                cli_error("the prompt is longer than %u bytes", REPL_MAX_INPUT);
            buf_free(&b);
            if (!ok && !intr)
                return 0;
            continue;
        }
        char *text = buf_steal(&b);
        if (st->history) {
            /* The history keeps it as typed, on one line. */
            struct buf h;
            buf_init(&h, REPL_MAX_INPUT + 8);
            buf_printf(&h, "\"\"\"%s\"\"\"", text);
            for (char *p = h.data; p && *p; p++)
                if (*p == '\n')
                    *p = ' ';
            if (h.data)
                add_history(h.data);
            buf_free(&h);
        }
        *out = text;
        return 1;
    }
}

static void help(void)
{
    printf("Available commands:\n"
           "  /set parameter NAME VALUE   set a parameter (/set parameter alone lists them)\n"
           "  /set system TEXT            set the system message (\"\"\" for several lines)\n"
           "  /set format json            answer in JSON; /set noformat turns it off\n"
           "  /set think, /set nothink    turn the model's thinking on or off\n"
           "  /set verbose, /set quiet    show timings after each answer, or not\n"
           "  /set history, /set nohistory  keep what you type in the history file, or not\n"
           "  /show info|parameters|template|system|license|modelfile\n"
           "  /load NAME                  switch to another model (keeps the conversation)\n"
           "  /save NAME                  save the model with these settings as NAME\n"
           "  /clear                      forget the conversation\n"
           "  /bye                        leave (Ctrl-D does too)\n"
           "  /?, /help                   this help\n"
           "\n"
           "Use \"\"\" to begin and end a message of several lines.\n"
           "Ctrl-C stops an answer; at the prompt it clears the line.\n");
}

static void list_parameters(void)
{
    int n;
    const struct param_desc *t = params_table(&n);
    printf("Parameters (/set parameter NAME VALUE):\n");
    for (int i = 0; i < n; i++)
        printf("  %-20s %s\n", t[i].name, t[i].help);
}

/* /set parameter NAME VALUE...: checked against the parameter table; a list (stop) takes
 * every remaining word. */
static void set_parameter(struct repl_state *st, char *args)
{
    char *save = NULL;
    char *name = strtok_r(args, " \t", &save);
    if (!name) {
        list_parameters();
        return;
    }
    const struct param_desc *d = params_find(name);
    if (!d) {
        printf("Unknown parameter '%s' (/set parameter lists them)\n", name);
        return;
    }
    char *rest = save ? save + strspn(save, " \t") : NULL;
    if (!rest || !*rest) {
        printf("Usage: /set parameter %s VALUE\n", d->name);
        return;
    }
    struct gen_params gp;
    struct load_params lp;
    gen_params_init(&gp);
    load_params_init(&lp);
    struct err e = {0};
    int bad = 0;
    /* Remove the earlier values of this parameter. */
    size_t nl = strlen(d->name);
    for (int i = 0; i < st->params.n;) {
        if (!strncmp(st->params.v[i], d->name, nl) && st->params.v[i][nl] == '=') {
            free(st->params.v[i]);
            memmove(&st->params.v[i], &st->params.v[i + 1],
                    (size_t)(st->params.n - i - 1) * sizeof *st->params.v);
            st->params.n--;
        } else {
            i++;
        }
    }
    char *words[64];
    int nw = 0;
    if (d->type == PARAM_LIST || d->type == PARAM_BIAS) {
        for (char *w = strtok_r(rest, " \t", &save); w && nw < 64; w = strtok_r(NULL, " \t", &save))
            words[nw++] = w;
    } else {
        words[nw++] = rest;
    }
    for (int i = 0; i < nw && !bad; i++) {
        void *target = d->group == PARAM_GEN ? (void *)&gp : (void *)&lp;
        if (params_set_text(target, d, words[i], &e)) {
            printf("Couldn't set parameter: %s\n", e.msg);
            bad = 1;
        }
    }
    if (!bad) {
        for (int i = 0; i < nw; i++) {
            char kv[PARAMS_MAX_STOP_LEN + 128];
            snprintf(kv, sizeof kv, "%s=%s", d->name, words[i]);
            strlist_add(&st->params, kv);
        }
        printf("Set parameter '%s' to '%s'\n", d->name, rest);
    }
    gen_params_free(&gp);
    load_params_free(&lp);
}

/* /set ...; returns nothing: every outcome is printed. */
static void cmd_set(struct repl_state *st, char *args)
{
    char *save = NULL;
    char *what = strtok_r(args, " \t", &save);
    char *rest = save ? save + strspn(save, " \t") : NULL;
    if (!what) {
        help();
    } else if (!strcmp(what, "parameter")) {
        set_parameter(st, rest ? rest : (char *)"");
    } else if (!strcmp(what, "system")) {
        free(st->system);
        st->system = rest && *rest ? xstrdup(rest) : NULL;
        /* """ quoting around a one-line system message */
        if (st->system && !strncmp(st->system, "\"\"\"", 3)) {
            size_t n = strlen(st->system);
            memmove(st->system, st->system + 3, n - 2);
            n -= 3;
            if (n >= 3 && !strcmp(st->system + n - 3, "\"\"\""))
                st->system[n - 3] = '\0';
        }
        printf(st->system ? "Set system message.\n" : "Cleared system message.\n");
    } else if (!strcmp(what, "format")) {
        if (!rest || strcmp(rest, "json") != 0) {
            printf("Usage: /set format json (or /set noformat)\n");
            return;
        }
        free(st->format);
        st->format = xstrdup("\"json\"");
        printf("Set format to 'json' mode.\n");
    } else if (!strcmp(what, "noformat")) {
        free(st->format);
        st->format = NULL;
        printf("Disabled format.\n");
    } else if (!strcmp(what, "think")) {
        st->think = 1;
        printf("Set 'think' mode.\n");
    } else if (!strcmp(what, "nothink")) {
        st->think = 0;
        printf("Set 'nothink' mode.\n");
    } else if (!strcmp(what, "verbose")) {
        st->verbose = 1;
        printf("Set 'verbose' mode.\n");
    } else if (!strcmp(what, "quiet")) {
        st->verbose = 0;
        printf("Set 'quiet' mode.\n");
    } else if (!strcmp(what, "history")) {
        st->history = 1;
        printf("History enabled.\n");
    } else if (!strcmp(what, "nohistory")) {
        st->history = 0;
        printf("History disabled.\n");
    } else {
        printf("Unknown command '/set %s'. Type /? for help\n", what);
    }
}

/* The conversation sent for a turn: the system message first, then the turns. */
static json_t *with_system(const struct repl_state *st, json_t *turns)
{
    json_t *m = json_array();
    if (st->system)
        json_array_append_new(m, json_pack("{s:s,s:s}", "role", "system", "content", st->system));
    json_array_extend(m, turns);
    return m;
}

int repl_run(struct repl_state *st, const struct repl_ops *ops)
{
    char hist[4096];
    history_path(hist, sizeof hist);
    st->history = history_on();
    if (isatty(STDIN_FILENO)) {
        using_history();
        stifle_history(1000);
        if (st->history)
            read_history(hist);
    }
    json_t *turns = json_array();
    int status = 0;
    char *in;
    while (read_prompt(st, &in)) {
        if (in[0] == '/') {
            char *save = NULL;
            char *cmd = strtok_r(in, " \t", &save);
            char *args = save ? save + strspn(save, " \t") : (char *)"";
            if (!strcmp(cmd, "/bye") || !strcmp(cmd, "/exit")) {
                free(in);
                break;
            } else if (!strcmp(cmd, "/?") || !strcmp(cmd, "/help")) {
                help();
            } else if (!strcmp(cmd, "/clear")) {
                json_array_clear(turns);
                printf("Cleared session context\n");
            } else if (!strcmp(cmd, "/set")) {
                cmd_set(st, args);
            } else if (!strcmp(cmd, "/show")) {
                if (!*args)
                    printf("Usage: /show info|parameters|template|system|license|modelfile\n");
                else
                    ops->show(ops->ud, st, args);
            } else if (!strcmp(cmd, "/load")) {
                if (!*args)
                    printf("Usage: /load NAME\n");
                else if (!ops->load)
                    printf("/load needs a server: this model runs in its own worker (start "
                           "`hearth serve` and run it by name)\n");
                else if (ops->load(ops->ud, st, args) == 0)
                    printf("Loaded '%s'\n", st->model);
            } else if (!strcmp(cmd, "/save")) {
                if (!*args)
                    printf("Usage: /save NAME\n");
                else if (!ops->save)
                    printf("/save needs a server: this model runs in its own worker (start "
                           "`hearth serve` and run it by name)\n");
                else if (ops->save(ops->ud, st, args) == 0)
                    printf("Created new model '%s'\n", args);
            } else {
                printf("Unknown command '%s'. Type /? for help\n", cmd);
            }
            free(in);
            continue;
        }
        json_array_append_new(turns, json_pack("{s:s,s:s}", "role", "user", "content", in));
        free(in);
        json_t *msgs = with_system(st, turns);
        char *reply = NULL;
        *st->interrupt = 0;
        int rc = ops->chat(ops->ud, st, msgs, &reply);
        json_decref(msgs);
        if (reply && *reply) /* a cancelled answer stays, as far as it got */
            json_array_append_new(turns,
                                  json_pack("{s:s,s:s}", "role", "assistant", "content", reply));
        else
            json_array_remove(turns, json_array_size(turns) - 1);
        free(reply);
        *st->interrupt = 0;
        if (rc == 1 && ops->fatal && ops->fatal(ops->ud)) {
            status = 1;
            break;
        }
    }
    if (isatty(STDIN_FILENO) && st->history) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", hist);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = '\0';
            mkdir(dir, 0700);
        }
        write_history(hist);
    }
    json_decref(turns);
    return status;
}
