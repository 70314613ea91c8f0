/* `hearth pull NAME`: through a running server's /api/pull when one answers, else in this
 * process; a progress bar per file on stderr (plain lines when stderr is not a terminal). */
#include "store/pull.h"
#include "base/util.h"
#include "cli/cli.h"
#include "net/client.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void pull_usage(void)
{
    printf("Usage: hearth pull [--insecure] MODEL\n"
           "\n"
           "Downloads a model into the store other tools read:\n"
           "  hf.co/ORG/REPO[:QUANT], ORG/REPO[:QUANT]  a GGUF from Hugging Face (Q4_K_M when no\n"
           "                           quant is named) into the Hugging Face cache\n"
           "                           ($HF_HUB_CACHE, default ~/.cache/huggingface/hub)\n"
           "  hf.co/ORG/REPO/FILE.gguf one file of a Hugging Face repository\n"
           "  NAME[:TAG], HOST/NAMESPACE/NAME[:TAG]\n"
           "                           an Ollama registry model into Ollama's store\n"
           "                           ($OLLAMA_MODELS, default ~/.ollama/models)\n"
           "\n"
           "The pull goes through the server at $HEARTH_HOST (or $OLLAMA_HOST, default\n"
           "127.0.0.1:11434) when one answers there, else it runs in this process. An\n"
           "interrupted pull (Ctrl-C) keeps what it downloaded: the same command resumes it.\n"
           "\n"
           "Flags:\n"
           "  --insecure   allow a registry other than the default over plain http, and do not\n"
           "               verify TLS certificates\n"
           "  -h, --help   print this help\n"
           "\n"
           "Environment: HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HEARTH_OLLAMA_REGISTRY (where\n"
           "registry.ollama.ai names are fetched from), HEARTH_PULL_STALL_S (seconds without data\n"
           "before a connection is retried, default 30).\n");
}

/* ---- progress display ---- */

struct bar {
    int tty;
    char status[64]; /* the current line's status */
    uint64_t total, completed;
    uint64_t base; /* completed when this file was first seen (a resume) */
    int64_t t0, last_draw;
    int last_tenth;
    int open; /* a bar line is drawn without its newline */
};

static void bar_end_line(struct bar *b)
{
    if (b->open) {
        fputc('\n', stderr);
        b->open = 0;
    }
}

static void fmt_rate(double bytes, char *out, size_t len)
{
    cli_human_size(bytes, out, len);
}

static void bar_draw(struct bar *b, int final)
{
    int64_t t = now_us();
    double secs = (double)(t - b->t0) / 1e6;
    double speed = secs > 0.2 || (final && secs > 0) ? (double)(b->completed - b->base) / secs : 0;
    char done[32], total[32], rate[32], eta[32] = "";
    cli_human_size((double)b->completed, done, sizeof done);
    cli_human_size((double)b->total, total, sizeof total);
    fmt_rate(speed, rate, sizeof rate);
    if (speed > 0 && b->completed < b->total) {
        double left = (double)(b->total - b->completed) / speed;
        if (left >= 3600)
            snprintf(eta, sizeof eta, "%dh%02dm", (int)(left / 3600), (int)(left / 60) % 60);
        else if (left >= 60)
            snprintf(eta, sizeof eta, "%dm%02ds", (int)(left / 60), (int)left % 60);
        else
            snprintf(eta, sizeof eta, "%ds", (int)left + 1);
    }
    int pct = b->total ? (int)(100.0 * (double)b->completed / (double)b->total) : 0;
    if (b->tty) {
        char cells[41];
        int fill = pct * 40 / 100;
        for (int i = 0; i < 40; i++)
            cells[i] = i < fill ? '#' : ' ';
        cells[40] = '\0';
        fprintf(stderr, "\r%s %3d%% [%s] %s/%s %s/s %s\033[K", b->status, pct, cells, done, total,
                rate, eta);
        b->open = 1;
        if (final)
            bar_end_line(b);
    } else {
        int tenth = pct / 10;
        if (final || tenth > b->last_tenth) {
            fprintf(stderr, "%s %3d%% %s/%s %s/s%s%s\n", b->status, pct, done, total, rate,
                    eta[0] ? " eta " : "", eta);
            b->last_tenth = tenth;
        }
    }
    b->last_draw = t;
}

static void bar_event(struct bar *b, const char *status, const char *digest, uint64_t total,
                      uint64_t completed)
{
    if (!digest || !total) {
        if (b->status[0] && b->completed < b->total)
            bar_draw(b, 1);
        bar_end_line(b);
        b->status[0] = '\0';
        fprintf(stderr, "%s\n", status);
        return;
    }
    if (strcmp(b->status, status) != 0) {
        if (b->status[0] && b->completed < b->total)
            bar_draw(b, 1);
        bar_end_line(b);
        snprintf(b->status, sizeof b->status, "%s", status);
        b->total = total;
        b->base = completed;
        b->completed = completed;
        b->t0 = now_us();
        b->last_tenth = -1;
        bar_draw(b, completed >= total);
        return;
    }
    int was_done = b->completed >= b->total;
    b->total = total;
    b->completed = completed;
    if (completed >= total && !was_done)
        bar_draw(b, 1);
    else if (!was_done && now_us() - b->last_draw > 200000)
        bar_draw(b, 0);
}

/* ---- in this process ---- */

static void local_event(void *ud, const struct pull_event *ev)
{
    bar_event(ud, ev->status, ev->digest, ev->total, ev->completed);
}

/* ---- through the server ---- */

struct remote {
    struct bar *bar;
    char error[512];
};

static int remote_line(void *ud, const char *line)
{
    struct remote *r = ud;
    json_t *j = json_loads(line, 0, NULL);
    if (!j)
        return 0;
    const char *err = json_string_value(json_object_get(j, "error"));
    const char *status = json_string_value(json_object_get(j, "status"));
    if (err) {
        snprintf(r->error, sizeof r->error, "%s", err);
    } else if (status) {
        json_t *t = json_object_get(j, "total"), *c = json_object_get(j, "completed");
        bar_event(r->bar, status, json_string_value(json_object_get(j, "digest")),
                  json_is_integer(t) ? (uint64_t)json_integer_value(t) : 0,
                  json_is_integer(c) ? (uint64_t)json_integer_value(c) : 0);
    }
    json_decref(j);
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    const char *name = NULL;
    int insecure = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            pull_usage();
            return 0;
        }
        if (!strcmp(argv[i], "--insecure")) {
            insecure = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            cli_error("unknown flag '%s' (see hearth pull --help)", argv[i]);
            return 2;
        } else if (name) {
            cli_error("pull takes one model name (see hearth pull --help)");
            return 2;
        } else {
            name = argv[i];
        }
    }
    if (!name) {
        cli_error("pull needs a model name (see hearth pull --help)");
        return 2;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct bar bar = {.tty = isatty(STDERR_FILENO)};
    char base[512];
    httpc_default_base(base, sizeof base);
    json_t *body = json_pack("{s:s, s:b, s:b}", "model", name, "insecure", insecure, "stream", 1);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct remote r = {.bar = &bar};
    struct httpc_opts o = {.method = "POST",
                           .body = text,
                           .on_line = remote_line,
                           .ud = &r,
                           .interrupt = &interrupted};
    int status = 0;
    struct err e = {0};
    int rc = httpc_request(base, "/api/pull", &o, &status, NULL, &e);
    free(text);
    if (rc == ERR_UNAVAILABLE) {
        /* No server: pull here. */
        struct pull_options po = {.insecure = insecure};
        e = (struct err){0};
        rc = pull_model(name, &po, local_event, &bar, &interrupted, &e);
    } else if (!rc && (status != 200 || r.error[0])) {
        rc = ERR_BAD_REQUEST;
        snprintf(e.msg, sizeof e.msg, "%s", r.error[0] ? r.error : "the server refused the pull");
    }
    bar_end_line(&bar);
    if (rc == ERR_CANCELLED || interrupted) {
        cli_error("interrupted: run the same pull again to resume it");
        return 130;
    }
    if (rc) {
        cli_error("%s", e.msg);
        return 1;
    }
    return 0;
}
