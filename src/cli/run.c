/* `hearth run MODEL.gguf [PROMPT]`: load a model in a worker and stream generated text.
 *
 * With PROMPT (even ""), generates once and exits. Without PROMPT, reads the prompt from stdin
 * when stdin is not a terminal, and otherwise opens the chat REPL (repl.c). Every parameter of
 * params_table() is a flag.
 */
#include "api/api.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "chat/chat.h"
#include "cli/cli.h"
#include "engine/client.h"
#include "engine/params.h"
#include "engine/proto.h"
#include "grammar/gbnf.h"
#include "grammar/schema.h"

#include <jansson.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile int g_interrupts;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupts++;
}

/* Prints "  LEFT  TEXT" with TEXT wrapped at 100 columns under its own indent. */
static void print_wrapped(const char *left, const char *text)
{
    enum { INDENT = 33, WIDTH = 100 };
    printf("  %-30s ", left);
    if (strlen(left) > 30)
        printf("\n%*s", INDENT, "");
    int col = INDENT;
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t w = strcspn(p, " ");
        if (!w)
            break;
        if (col > INDENT) {
            if (col + 1 + (int)w > WIDTH) {
                printf("\n%*s", INDENT, "");
                col = INDENT;
            } else {
                putchar(' ');
                col++;
            }
        }
        printf("%.*s", (int)w, p);
        col += (int)w;
        p += w;
    }
    putchar('\n');
}

static void print_flag(const struct param_desc *d)
{
    char name[64], meta[16] = "N";
    snprintf(name, sizeof name, "%s", d->name);
    for (char *c = name; *c; c++)
        if (*c == '_')
            *c = '-';
    char left[128];
    if (d->type == PARAM_BOOL)
        snprintf(left, sizeof left, "--%s[=BOOL]", name);
    else {
        if (d->type == PARAM_STR || d->type == PARAM_LIST || d->type == PARAM_BIAS)
            snprintf(meta, sizeof meta, "%s", d->type == PARAM_BIAS ? "T+B" : "TEXT");
        else if (d->type == PARAM_FLOAT)
            snprintf(meta, sizeof meta, "X");
        snprintf(left, sizeof left, "--%s %s", name, meta);
    }
    char def[64] = "";
    if (d->type == PARAM_STR && d->sdef)
        snprintf(def, sizeof def, " (default %s)", d->sdef);
    else if (d->type == PARAM_BOOL)
        snprintf(def, sizeof def, " (default %s)", d->def ? "true" : "false");
    else if (d->type != PARAM_STR && d->type != PARAM_LIST && d->type != PARAM_BIAS)
        snprintf(def, sizeof def, " (default %g)", d->def);
    char alias[48] = "";
    if (d->alias)
        snprintf(alias, sizeof alias, " (also --%s)", d->alias);
    char text[512];
    snprintf(text, sizeof text, "%s%s%s", d->help, def, alias);
    print_wrapped(left, text);
}

void cli_run_usage(const char *bundle)
{
    if (bundle)
        printf("Usage: %s [PROMPT] [flags]\n"
               "\n"
               "Answers PROMPT with the model inside this bundle, or, without PROMPT, reads it\n"
               "from stdin when it is piped and opens a chat on a terminal (/? lists its\n"
               "commands). The flags replace the bundle's own parameters.\n",
               bundle);
    else
        printf(
            "Usage: hearth run MODEL [PROMPT] [flags]\n"
            "\n"
            "MODEL.gguf (a path) loads in a worker process of its own; a model name runs through\n"
            "the server (HEARTH_HOST). The generated text streams to stdout. PROMPT \"\" starts\n"
            "from the beginning-of-text token alone. Without PROMPT the prompt is read from\n"
            "stdin when it is piped; on a terminal a chat opens (the conversation is kept; /? "
            "lists\n"
            "its commands: /set parameter, /set system, /show, /load, /save, /clear...; \"\"\"\n"
            "spans lines; Ctrl-C stops an answer; /bye or Ctrl-D leaves; history in\n"
            "~/.hearth/history unless HEARTH_NOHISTORY=1).\n");
    printf("\n"
           "Flags:\n"
           "  -n N                           same as --num-predict N\n"
           "  --seed N, --ctx N, --threads N same as --seed, --num-ctx, --num-thread\n"
           "  --grammar-file FILE            read the GBNF grammar from FILE\n"
           "  --format json|SCHEMA|@FILE     answer in JSON: any JSON object, or JSON matching\n"
           "                                 a JSON schema given inline or read from FILE\n"
           "  --special                      parse special tokens written in the prompt\n"
           "  --no-bos                       do not add the beginning-of-text token\n"
           "  --no-NAME                      turns a boolean off (--no-use-mmap)\n"
           "  --verbose                      print load time and token rates to stderr\n"
           "  -h, --help                     print this help\n"
           "\n"
           "Sampling and generation (each value is checked against its range):\n");
    int n;
    const struct param_desc *t = params_table(&n);
    for (int i = 0; i < n; i++)
        if (t[i].group == PARAM_GEN)
            print_flag(&t[i]);
    printf("\nModel and context:\n");
    for (int i = 0; i < n; i++)
        if (t[i].group == PARAM_LOAD)
            print_flag(&t[i]);
}

struct run_opts {
    const char *model;
    const char *prompt; /* NULL: stdin or interactive */
    struct gen_params gen;
    struct load_params load;
    uint32_t flags;
    int verbose;
    struct strlist given; /* "name=value" of every parameter flag, for the server's options */
    char *format;         /* --format as JSON text: "\"json\"" or a schema; NULL for none */
    int grammar_file;     /* --grammar-file or --grammar was given */
    const char *bundle;   /* a bundle's name as typed, for --help; NULL for hearth run */
};

static int read_file(const char *path, size_t max, char **out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return 1;
    }
    struct buf b;
    buf_init(&b, max);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(&b, chunk, n)) {
            cli_error("%s is larger than %zu bytes", path, max);
            rc = 1;
            break;
        }
    fclose(f);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    *out = buf_steal(&b);
    return 0;
}

/* --format's value: "json", a JSON schema, or @FILE holding one; kept as JSON text in
 * o->format, and turned into the grammar for a run without a server. */
static int parse_format(struct run_opts *o, const char *val)
{
    char *text = NULL;
    if (!strcmp(val, "json"))
        text = xstrdup("\"json\"");
    else if (val[0] == '@') {
        if (read_file(val + 1, PARAMS_MAX_GRAMMAR_LEN, &text))
            return 1;
    } else
        text = xstrdup(val);
    json_error_t je;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &je);
    int is_json = json_is_string(j) && !strcmp(json_string_value(j), "json");
    if (!j || (!json_is_object(j) && !is_json)) {
        cli_error("--format must be json, a JSON schema object, or @FILE holding one%s%s",
                  j ? "" : ": ", j ? "" : je.text);
        json_decref(j);
        free(text);
        return 1;
    }
    struct err e = {0};
    char *g = NULL;
    json_t *schema = is_json ? json_pack("{s:s}", "type", "object") : json_incref(j);
    int rc = grammar_from_schema(schema, "", &g, &e);
    json_decref(schema);
    json_decref(j);
    if (rc) {
        cli_error("--format: %s", e.msg);
        free(text);
        return 1;
    }
    free(o->format);
    o->format = text;
    free(o->gen.grammar);
    o->gen.grammar = g;
    return 0;
}

/* Returns 0 to continue, 1 for a usage error (already printed), -1 when --help was printed. */
static int parse_args(int argc, char **argv, struct run_opts *o)
{
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (npos == 0)
                o->model = a;
            else if (npos == 1)
                o->prompt = a;
            else {
                cli_error("unexpected argument '%s' (quote the prompt as one argument)", a);
                return 1;
            }
            npos++;
            continue;
        }
        if (!strcmp(a, "--")) {
            /* everything after -- is positional */
            for (i++; i < argc; i++, npos++) {
                if (npos == 0)
                    o->model = argv[i];
                else if (npos == 1)
                    o->prompt = argv[i];
                else {
                    cli_error("unexpected argument '%s'", argv[i]);
                    return 1;
                }
            }
            break;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            cli_run_usage(o->bundle);
            return -1;
        }
        if (!strcmp(a, "--verbose")) {
            o->verbose = 1;
            continue;
        }
        if (!strcmp(a, "--special")) {
            o->flags |= PROTO_GEN_PARSE_SPECIAL;
            continue;
        }
        if (!strcmp(a, "--no-bos")) {
            o->flags |= PROTO_GEN_NO_BOS;
            continue;
        }
        /* --name value, --name=value, -n value */
        char name[64];
        const char *val = NULL;
        const char *body = a[1] == '-' ? a + 2 : a + 1;
        const char *eq = strchr(body, '=');
        size_t nl = eq ? (size_t)(eq - body) : strlen(body);
        if (nl >= sizeof name) {
            cli_error("unknown flag '%s' (see %s --help%s)", a,
                      o->bundle ? o->bundle : "hearth run", o->bundle ? "-run" : "");
            return 1;
        }
        memcpy(name, body, nl);
        name[nl] = '\0';
        if (eq)
            val = eq + 1;
        const char *pname = name;
        if (a[1] != '-') {
            if (strcmp(name, "n") != 0) {
                cli_error("unknown flag '%s' (see %s --help%s)", a,
                          o->bundle ? o->bundle : "hearth run", o->bundle ? "-run" : "");
                return 1;
            }
            pname = "num_predict";
        } else if (!strcmp(name, "ctx")) {
            pname = "num_ctx";
        } else if (!strcmp(name, "format")) {
            if (!val) {
                if (i + 1 >= argc) {
                    cli_error("--format needs a value");
                    return 1;
                }
                val = argv[++i];
            }
            if (parse_format(o, val))
                return 1;
            continue;
        } else if (!strcmp(name, "grammar-file")) {
            if (!val) {
                if (i + 1 >= argc) {
                    cli_error("--grammar-file needs a value");
                    return 1;
                }
                val = argv[++i];
            }
            char *g;
            if (read_file(val, PARAMS_MAX_GRAMMAR_LEN, &g))
                return 1;
            struct err ge = {0};
            if (gbnf_check(g, &ge)) {
                cli_error("%s: %s", val, ge.msg);
                free(g);
                return 1;
            }
            o->grammar_file = 1;
            free(o->gen.grammar);
            o->gen.grammar = g;
            struct buf kv;
            buf_init(&kv, 0);
            buf_printf(&kv, "grammar=%s", g);
            strlist_add(&o->given, kv.data);
            buf_free(&kv);
            continue;
        }
        int negate = 0;
        const struct param_desc *d = params_find(pname);
        if (!d && !strncmp(pname, "no-", 3)) {
            d = params_find(pname + 3);
            negate = d && d->type == PARAM_BOOL;
            if (!negate)
                d = NULL;
        }
        if (!d) {
            cli_error("unknown flag '%s' (see %s --help%s)", a,
                      o->bundle ? o->bundle : "hearth run", o->bundle ? "-run" : "");
            return 1;
        }
        if (d->type == PARAM_BOOL && !val)
            val = negate ? "false" : "true";
        if (!val) {
            if (i + 1 >= argc) {
                cli_error("%s needs a value", a);
                return 1;
            }
            val = argv[++i];
        }
        struct err e = {0};
        void *target = d->group == PARAM_GEN ? (void *)&o->gen : (void *)&o->load;
        if (params_set_text(target, d, val, &e)) {
            cli_error("%s", e.msg);
            return 1;
        }
        if (!strcmp(d->name, "grammar"))
            o->grammar_file = 1; /* --grammar TEXT: the same as a file for --format's sake */
        struct buf kvb;
        buf_init(&kvb, 0);
        buf_printf(&kvb, "%s=%s", d->name, val);
        strlist_add(&o->given, kvb.data);
        buf_free(&kvb);
    }
    if (!o->model) {
        cli_error("missing MODEL (usage: hearth run MODEL.gguf [PROMPT]; see --help)");
        return 1;
    }
    if (o->format && o->grammar_file) {
        cli_error("--format and a grammar cannot be combined: both constrain the output");
        return 1;
    }
    /* a grammar is checked here as the server checks one: libllama's parser crashes on some */
    struct err ge = {0};
    if (o->gen.grammar && *o->gen.grammar && gbnf_check(o->gen.grammar, &ge)) {
        cli_error("%s", ge.msg);
        return 1;
    }
    return 0;
}

static void fmt_duration(char *out, size_t n, int64_t us)
{
    if (us >= 1000000)
        snprintf(out, n, "%.3fs", (double)us / 1e6);
    else
        snprintf(out, n, "%.3fms", (double)us / 1e3);
}

static void print_stats(const struct model_info *info, const struct gen_stats *s, int64_t total)
{
    char d1[32], d2[32], d3[32], d4[32];
    fmt_duration(d1, sizeof d1, total);
    fmt_duration(d2, sizeof d2, info->load_us);
    fmt_duration(d3, sizeof d3, s->prompt_us);
    fmt_duration(d4, sizeof d4, s->gen_us);
    fprintf(stderr,
            "total duration:       %s\n"
            "load duration:        %s\n"
            "prompt eval count:    %u token(s)\n"
            "prompt eval duration: %s\n"
            "prompt eval rate:     %.2f tokens/s\n"
            "eval count:           %u token(s)\n"
            "eval duration:        %s\n"
            "eval rate:            %.2f tokens/s\n"
            "stop reason:          %s%s%s\n",
            d1, d2, s->prompt_n, d3, s->prompt_us ? s->prompt_n * 1e6 / (double)s->prompt_us : 0,
            s->gen_n, d4, s->gen_us ? s->gen_n * 1e6 / (double)s->gen_us : 0,
            proto_stop_reason_name((int)s->stop_reason), s->stop_string ? " at " : "",
            s->stop_string ? s->stop_string : "");
}

/* Runs one generation and streams it to stdout. Returns 0, 1 (error), or 130 (cancelled). */
static int generate_once(struct worker_proc *w, const struct run_opts *o,
                         const struct gen_params *gen, uint32_t flags,
                         const struct model_info *info, const char *prompt, uint64_t id,
                         int64_t t_start, struct buf *capture)
{
    struct proto_msg req;
    proto_msg_init(&req, PROTO_GENERATE);
    req.id = id;
    req.flags = flags;
    req.prompt = (char *)prompt;
    req.gen = *gen;
    struct err e = {0};
    if (worker_send(w, &req, &e)) {
        cli_error("%s", e.msg);
        return 1;
    }
    int cancel_sent = 0, last_nl = 1, out_errno = 0;
    int start_interrupts = g_interrupts;
    for (;;) {
        if ((g_interrupts != start_interrupts || out_errno) && !cancel_sent) {
            struct proto_msg c;
            proto_msg_init(&c, PROTO_CANCEL);
            c.id = id;
            worker_send(w, &c, NULL);
            cancel_sent = 1;
        }
        struct pollfd pfd = {worker_fd(w), POLLIN, 0};
        int pr = poll(&pfd, 1, 100);
        if (pr <= 0)
            continue; /* timeout or EINTR: look at the interrupt flag again */
        struct proto_msg m;
        int rc = worker_recv(w, &m, &e);
        if (rc) {
            proto_msg_free(&m);
            fflush(stdout);
            if (!last_nl)
                fputc('\n', stdout);
            cli_error("%s", e.msg);
            return 1;
        }
        if (m.id != id) {
            proto_msg_free(&m);
            continue;
        }
        if (m.type == PROTO_TOKEN) {
            if (capture)
                buf_append(capture, m.text, m.text_len);
            if (!out_errno) {
                fwrite(m.text, 1, m.text_len, stdout);
                if (fflush(stdout) != 0 && errno != EINTR)
                    out_errno = errno ? errno : EIO; /* the reader went away: stop generating */
                clearerr(stdout);
            }
            if (m.text_len)
                last_nl = m.text[m.text_len - 1] == '\n';
        } else if (m.type == PROTO_DONE && out_errno) {
            proto_msg_free(&m);
            if (out_errno == EPIPE)
                return 141; /* as a process killed by SIGPIPE, quietly (`| head`) */
            cli_error("writing the output: %s", strerror(out_errno));
            return 1;
        } else if (m.type == PROTO_DONE) {
            if (!last_nl)
                fputc('\n', stdout);
            fflush(stdout);
            if (o->verbose)
                print_stats(info, &m.stats, now_us() - t_start);
            int cancelled = m.stats.stop_reason == PROTO_STOP_CANCELLED;
            if (m.stats.stop_reason == PROTO_STOP_CONTEXT)
                fprintf(stderr,
                        "hearth: warning: generation stopped because the context "
                        "(%u tokens) is full; raise --num-ctx for longer output\n",
                        info->n_ctx);
            proto_msg_free(&m);
            return cancelled ? 130 : 0;
        } else if (m.type == PROTO_ERROR) {
            if (!last_nl)
                fputc('\n', stdout);
            fflush(stdout);
            cli_error("%s", m.message ? m.message : "generation failed");
            proto_msg_free(&m);
            return 1;
        }
        proto_msg_free(&m);
    }
}

/* The REPL's turns on a worker this process started: the conversation rendered through the
 * model's chat template here, the session's parameters applied over the command line's. */
struct local {
    struct worker_proc *w;
    const struct run_opts *o;
    const struct model_info *info;
    uint64_t id;
    int dead;
    int once; /* a one-shot answer: no blank line after it, as the REPL leaves one */
};

static int local_chat(void *ud, const struct repl_state *st, json_t *messages, char **reply)
{
    struct local *l = ud;
    struct gen_params gen;
    gen_params_init(&gen);
    struct strlist *lists[] = {(struct strlist *)&l->o->given, (struct strlist *)&st->params};
    struct err e = {0};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < lists[k]->n; i++) {
            const char *kv = lists[k]->v[i], *eq = strchr(kv, '=');
            char name[64];
            snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - kv) : 0, kv);
            const struct param_desc *d = eq ? params_find(name) : NULL;
            if (d && d->group == PARAM_GEN)
                params_set_text(&gen, d, eq + 1, &e);
        }
    if (st->format) {
        json_t *f = json_loads(st->format, JSON_DECODE_ANY, NULL);
        json_t *schema = json_is_object(f) ? json_incref(f) : json_pack("{s:s}", "type", "object");
        char *g = NULL;
        int grc = grammar_from_schema(schema, "", &g, &e);
        json_decref(schema);
        json_decref(f);
        if (grc) {
            cli_error("format: %s", e.msg);
            gen_params_free(&gen);
            return 1;
        }
        free(gen.grammar);
        gen.grammar = g;
    }
    char *prompt = NULL;
    uint32_t flags = l->o->flags;
    if (l->info->chat_template) {
        json_t *kw = st->think >= 0 ? json_pack("{s:b}", "enable_thinking", st->think) : NULL;
        struct chat_input in = {.messages = messages, .kwargs = kw, .add_generation_prompt = 1};
        int rc = chat_render(l->info->chat_template, &in, &prompt, &e);
        json_decref(kw);
        if (rc) {
            cli_error("%s", e.msg);
            gen_params_free(&gen);
            return 1;
        }
        flags |= PROTO_GEN_PARSE_SPECIAL;
    } else {
        /* No template: the last message alone, as a plain prompt. */
        json_t *last = json_array_get(messages, json_array_size(messages) - 1);
        prompt = xstrdup(json_string_value(json_object_get(last, "content")));
    }
    struct buf out;
    buf_init(&out, 64u << 20);
    int rc = generate_once(l->w, l->o, &gen, flags, l->info, prompt, l->id++, now_us(), &out);
    free(prompt);
    gen_params_free(&gen);
    if (!l->once)
        fputc('\n', stdout);
    *reply = buf_steal(&out);
    if (rc == 1)
        l->dead = 1;
    return rc;
}

static void local_show(void *ud, const struct repl_state *st, const char *what)
{
    struct local *l = ud;
    const struct model_info *i = l->info;
    if (!strcmp(what, "info")) {
        printf("  Model\n    %-20s %s\n    %-20s %s\n    %-20s %.1fM\n    %-20s %u\n"
               "    %-20s %u\n    %-20s %u\n",
               "file", l->o->model, "description", i->desc ? i->desc : "", "parameters",
               (double)i->n_params / 1e6, "context length", i->n_ctx, "trained context",
               i->n_ctx_train, "embedding length", i->n_embd);
    } else if (!strcmp(what, "parameters")) {
        if (!l->o->given.n && !st->params.n)
            printf("No parameters set: the defaults apply (hearth run --help lists them).\n");
        for (int k = 0; k < l->o->given.n; k++)
            printf("%s (command line)\n", l->o->given.v[k]);
        for (int k = 0; k < st->params.n; k++)
            printf("%s\n", st->params.v[k]);
    } else if (!strcmp(what, "template")) {
        printf("%s\n", i->chat_template ? i->chat_template
                                        : "This model has no chat template: each message is "
                                          "sent as a plain prompt.");
    } else if (!strcmp(what, "system")) {
        printf("%s\n", st->system ? st->system : "No system message was specified.");
    } else if (!strcmp(what, "license") || !strcmp(what, "modelfile")) {
        printf("No %s: %s is a plain GGUF file.\n", what, l->o->model);
    } else {
        printf("Unknown /show '%s' (info, parameters, template, system, license, modelfile)\n",
               what);
    }
}

static int local_fatal(void *ud)
{
    return ((struct local *)ud)->dead;
}

static int interactive(struct worker_proc *w, const struct run_opts *o,
                       const struct model_info *info, const struct run_preset *rp)
{
    fprintf(stderr, "hearth: %s loaded (%u-token context%s). /? for help, /bye or Ctrl-D leaves.\n",
            info->desc, info->n_ctx,
            info->chat_template ? "" : "; no chat template: each message is a plain prompt");
    struct local l = {.w = w, .o = o, .info = info, .id = 1};
    struct repl_state st = {.think = -1, .verbose = o->verbose, .interrupt = &g_interrupts};
    snprintf(st.model, sizeof st.model, "%s", rp ? rp->name : o->model);
    st.format = o->format ? xstrdup(o->format) : NULL;
    st.system = rp && rp->system ? xstrdup(rp->system) : NULL;
    struct repl_ops ops = {.ud = &l, .chat = local_chat, .show = local_show, .fatal = local_fatal};
    int status = repl_run(&st, &ops);
    strlist_free(&st.params);
    free(st.system);
    free(st.format);
    return status;
}

/* A bundle's prompt: one turn of chat through the template (the preset's system prompt first),
 * as `ollama run MODEL PROMPT` answers. */
static int chat_once(struct worker_proc *w, const struct run_opts *o, const struct model_info *info,
                     const struct run_preset *rp)
{
    json_t *messages = json_array();
    if (rp->system)
        json_array_append_new(messages,
                              json_pack("{s:s,s:s}", "role", "system", "content", rp->system));
    json_array_append_new(messages, json_pack("{s:s,s:s}", "role", "user", "content", o->prompt));
    struct local l = {.w = w, .o = o, .info = info, .id = 1, .once = 1};
    struct repl_state st = {.think = -1, .verbose = o->verbose, .interrupt = &g_interrupts};
    st.format = o->format;
    char *reply = NULL;
    int status = local_chat(&l, &st, messages, &reply);
    free(reply);
    json_decref(messages);
    return status;
}

int cmd_run(int argc, char **argv)
{
    return cli_run_preset(NULL, NULL, argc, argv);
}

int cli_run_preset(const char *path, const struct run_preset *rp, int argc, char **argv)
{
    struct run_opts o;
    memset(&o, 0, sizeof o);
    gen_params_init(&o.gen);
    load_params_init(&o.load);
    /* The preset's parameters come first, so that the command line's flags replace them. */
    for (int i = 0; rp && i < rp->params.n; i++) {
        const char *kv = rp->params.v[i], *eq = strchr(kv, '=');
        char name[64];
        snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - kv) : 0, kv);
        const struct param_desc *d = eq ? params_find(name) : NULL;
        struct err pe = {0};
        if (!d || params_set_text(d->group == PARAM_GEN ? (void *)&o.gen : (void *)&o.load, d,
                                  eq + 1, &pe)) {
            fprintf(stderr, "hearth: warning: the preset's %s is ignored%s%s\n", kv,
                    pe.msg[0] ? ": " : "", pe.msg);
            continue;
        }
        strlist_add(&o.given, kv);
    }
    o.bundle = rp ? rp->prog : NULL;
    char **args = argv;
    if (path) { /* the model first, as `hearth run PATH ...` has it */
        args = xcalloc((size_t)argc + 2, sizeof *args);
        args[0] = (char *)path;
        memcpy(args + 1, argv, (size_t)argc * sizeof *argv);
        argc++;
    }
    char *stdin_prompt = NULL;
    struct worker_proc *w = NULL;
    struct model_info info;
    memset(&info, 0, sizeof info);
    int status = 1;

    int prc = parse_args(argc, args, &o);
    if (prc) {
        status = prc < 0 ? 0 : 2;
        goto out;
    }
    int64_t t_start = now_us();
    int tty_in = isatty(STDIN_FILENO);
    /* A name rather than a file: ask the server, as `ollama run` does. */
    struct stat mst;
    int remote =
        !rp && stat(o.model, &mst) != 0 && !strchr(o.model, '/') && !strstr(o.model, ".gguf");
    if (!o.prompt && !tty_in) {
        struct buf b;
        buf_init(&b, PROTO_MAX_PROMPT);
        char chunk[65536];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0)
            if (buf_append(&b, chunk, n)) {
                cli_error("the prompt on stdin is larger than %u bytes", PROTO_MAX_PROMPT);
                buf_free(&b);
                goto out;
            }
        stdin_prompt = buf_steal(&b);
        o.prompt = stdin_prompt;
    }

    /* The worker's own logs are for the daemon; a terminal user wants only the text unless
     * they asked for more. */
    if (!getenv("HEARTH_LOG_LEVEL"))
        setenv("HEARTH_LOG_LEVEL", o.verbose ? "info" : "warn", 1);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL); /* no SA_RESTART: poll and getline return on Ctrl-C */
    signal(SIGPIPE, SIG_IGN);

    if (remote) {
        status = cli_run_remote(o.model, o.prompt, &o.given, o.format, o.verbose, &g_interrupts);
        goto out;
    }
    struct err e = {0};
    if (worker_spawn(NULL, &w, &e)) {
        cli_error("%s", e.msg);
        goto out;
    }
    struct spinner *sp = cli_spinner_start("loading the model");
    int lrc = worker_load(w, o.model, &o.load, &info, &e);
    cli_spinner_stop(sp);
    if (lrc) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (rp && rp->tmpl) {
        free(info.chat_template);
        info.chat_template = xstrdup(rp->tmpl);
    }
    if (o.verbose)
        fprintf(stderr,
                "hearth: loaded %s: %s, %u-token context (trained %u), %.1f MiB of weights, "
                "%s\n",
                o.model, info.desc, info.n_ctx, info.n_ctx_train, (double)info.size / (1 << 20),
                info.chat_template ? "has a chat template" : "no chat template");
    if (o.prompt && rp && info.chat_template)
        status = chat_once(w, &o, &info, rp);
    else if (o.prompt)
        status = generate_once(w, &o, &o.gen, o.flags, &info, o.prompt, 1, t_start, NULL);
    else
        status = interactive(w, &o, &info, rp);
out:
    if (args != argv)
        free(args);
    worker_free(w);
    free(info.desc);
    free(info.chat_template);
    free(stdin_prompt);
    gen_params_free(&o.gen);
    load_params_free(&o.load);
    strlist_free(&o.given);
    free(o.format);
    return status;
}
