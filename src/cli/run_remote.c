/* `hearth run NAME [PROMPT]` through a running `hearth serve`, over the Ollama API. */
#include "base/util.h"
#include "cli/cli.h"
#include "engine/params.h"
#include "net/client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The options object for the flags given on the command line, typed by the parameter table. */
json_t *cli_options_json(const struct strlist *given)
{
    json_t *o = json_object();
    for (int i = 0; i < given->n; i++) {
        char *eq = strchr(given->v[i], '=');
        if (!eq)
            continue;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(eq - given->v[i]), given->v[i]);
        const char *val = eq + 1;
        const struct param_desc *d = params_find(name);
        if (!d)
            continue;
        int64_t n;
        double x;
        switch (d->type) {
        case PARAM_INT:
        case PARAM_I64:
            if (!parse_i64(val, &n))
                json_object_set_new(o, name, json_integer(n));
            break;
        case PARAM_FLOAT:
            if (!parse_double(val, &x))
                json_object_set_new(o, name, json_real(x));
            break;
        case PARAM_BOOL:
            json_object_set_new(o, name, json_boolean(!strcmp(val, "true") || !strcmp(val, "1")));
            break;
        case PARAM_STR: json_object_set_new(o, name, json_string(val)); break;
        case PARAM_LIST: {
            json_t *a = json_object_get(o, name);
            if (!a) {
                a = json_array();
                json_object_set_new(o, name, a);
            }
            json_array_append_new(a, json_string(val));
            break;
        }
        case PARAM_BIAS: {
            /* TOKEN+BIAS / TOKEN-BIAS / TOKEN-inf, already checked by the flag parser. */
            json_t *b = json_object_get(o, name);
            if (!b) {
                b = json_object();
                json_object_set_new(o, name, b);
            }
            const char *sep = val + strcspn(val, "+-");
            char tok[32];
            snprintf(tok, sizeof tok, "%.*s", (int)(sep - val), val);
            double bias = !strcmp(sep + 1, "inf") ? -1e30 : atof(sep + 1);
            json_object_set_new(b, tok, json_real(*sep == '-' ? -fabs(bias) : bias));
            break;
        }
        }
    }
    return o;
}

struct stream_state {
    struct spinner *spin; /* until the first line: the server may be loading the model */
    int last_nl;
    int verbose;
    json_t *final;
    char error[1024];
};

static int on_line(void *ud, const char *line)
{
    struct stream_state *s = ud;
    cli_spinner_stop(s->spin);
    s->spin = NULL;
    json_t *j = json_loads(line, 0, NULL);
    if (!j)
        return 0;
    json_t *err = json_object_get(j, "error");
    if (json_is_string(err)) {
        snprintf(s->error, sizeof s->error, "%s", json_string_value(err));
        json_decref(j);
        return 1;
    }
    json_t *r = json_object_get(j, "response");
    if (json_is_string(r) && json_string_length(r)) {
        fwrite(json_string_value(r), 1, json_string_length(r), stdout);
        fflush(stdout);
        s->last_nl = json_string_value(r)[json_string_length(r) - 1] == '\n';
    }
    if (json_is_true(json_object_get(j, "done"))) {
        json_decref(s->final);
        s->final = j;
        return 0;
    }
    json_decref(j);
    return 0;
}

static double ns_of(json_t *o, const char *k)
{
    return (double)json_integer_value(json_object_get(o, k));
}

void cli_print_timings(json_t *f)
{
    double pc = ns_of(f, "prompt_eval_count"), pd = ns_of(f, "prompt_eval_duration");
    double ec = ns_of(f, "eval_count"), ed = ns_of(f, "eval_duration");
    fprintf(stderr,
            "total duration:       %.3fs\n"
            "load duration:        %.3fms\n"
            "prompt eval count:    %.0f token(s)\n"
            "prompt eval duration: %.3fms\n"
            "prompt eval rate:     %.2f tokens/s\n"
            "eval count:           %.0f token(s)\n"
            "eval duration:        %.3fms\n"
            "eval rate:            %.2f tokens/s\n"
            "stop reason:          %s\n",
            ns_of(f, "total_duration") / 1e9, ns_of(f, "load_duration") / 1e6, pc, pd / 1e6,
            pd > 0 ? pc * 1e9 / pd : 0, ec, ed / 1e6, ed > 0 ? ec * 1e9 / ed : 0,
            json_string_value(json_object_get(f, "done_reason"))
                ? json_string_value(json_object_get(f, "done_reason"))
                : "");
}

static int generate(const char *base, const char *model, const char *prompt, json_t *options,
                    json_t *format, int verbose, volatile int *interrupt)
{
    json_t *req =
        json_pack("{s:s, s:s, s:O}", "model", model, "prompt", prompt, "options", options);
    if (format)
        json_object_set(req, "format", format);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct stream_state s = {.last_nl = 1, .verbose = verbose};
    struct httpc_opts o = {
        .method = "POST", .body = body, .on_line = on_line, .ud = &s, .interrupt = interrupt};
    int status = 0;
    struct err e = {0};
    s.spin = cli_spinner_start("");
    int rc = httpc_request(base, "/api/generate", &o, &status, NULL, &e);
    cli_spinner_stop(s.spin);
    free(body);
    if (!s.last_nl)
        fputc('\n', stdout);
    fflush(stdout);
    int ret = 0;
    if (rc == ERR_CANCELLED && !s.error[0]) {
        ret = 130;
    } else if (rc) {
        cli_error("%s", e.msg);
        ret = 1;
    } else if (s.error[0]) {
        cli_error("%s", s.error);
        ret = 1;
    } else if (status != 200) {
        cli_error("the server answered %d", status);
        ret = 1;
    } else if (s.final && verbose) {
        cli_print_timings(s.final);
    }
    json_decref(s.final);
    return ret;
}

int cli_run_remote(const char *model, const char *prompt, const struct strlist *given,
                   const char *format, int verbose, volatile int *interrupt)
{
    char base[512];
    httpc_default_base(base, sizeof base);
    json_t *options = cli_options_json(given);
    json_t *fmt = format ? json_loads(format, JSON_DECODE_ANY, NULL) : NULL;
    int status = 0;
    if (prompt) {
        status = generate(base, model, prompt, options, fmt, verbose, interrupt);
    } else {
        status = cli_repl_remote(model, given, format, verbose, interrupt);
    }
    json_decref(options);
    json_decref(fmt);
    return status;
}
