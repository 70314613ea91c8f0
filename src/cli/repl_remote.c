/* The REPL's turns through a running server: /api/chat streamed, /api/show, /api/create. */
#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "net/client.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct remote {
    char base[512];
    int generate; /* the model has no chat template: each message goes to /api/generate alone */
};

struct turn {
    struct buf content;
    int thinking; /* inside the thinking part of the answer */
    int color;
    int last_nl;
    json_t *final;
    char error[1024];
    struct spinner *spin; /* until the first line: the server may be loading the model */
};

static int on_chat_line(void *ud, const char *line)
{
    struct turn *t = ud;
    cli_spinner_stop(t->spin);
    t->spin = NULL;
    json_t *j = json_loads(line, 0, NULL);
    if (!j)
        return 0;
    json_t *err = json_object_get(j, "error");
    if (json_is_string(err)) {
        snprintf(t->error, sizeof t->error, "%s", json_string_value(err));
        json_decref(j);
        return 1;
    }
    json_t *m = json_object_get(j, "message");
    json_t *th = json_object_get(m ? m : j, "thinking");
    if (json_is_string(th) && json_string_length(th)) {
        if (!t->thinking) {
            fputs(t->color ? "\033[2mThinking...\n" : "Thinking...\n", stdout);
            t->thinking = 1;
        }
        fwrite(json_string_value(th), 1, json_string_length(th), stdout);
    }
    json_t *c = m ? json_object_get(m, "content") : json_object_get(j, "response");
    if (json_is_string(c) && json_string_length(c)) {
        if (t->thinking) {
            fputs(t->color ? "\n...done thinking.\033[0m\n\n" : "\n...done thinking.\n\n", stdout);
            t->thinking = 0;
        }
        fwrite(json_string_value(c), 1, json_string_length(c), stdout);
        buf_append(&t->content, json_string_value(c), json_string_length(c));
        t->last_nl = json_string_value(c)[json_string_length(c) - 1] == '\n';
    }
    json_t *calls = json_object_get(m, "tool_calls");
    if (json_is_array(calls) && json_array_size(calls)) {
        char *s = json_dumps(calls, JSON_COMPACT);
        printf("%s[tool calls] %s\n", t->last_nl ? "" : "\n", s ? s : "");
        free(s);
        t->last_nl = 1;
    }
    fflush(stdout);
    if (json_is_true(json_object_get(j, "done"))) {
        json_decref(t->final);
        t->final = j;
        return 0;
    }
    json_decref(j);
    return 0;
}

static int remote_chat(void *ud, const struct repl_state *st, json_t *messages, char **reply)
{
    struct remote *r = ud;
    json_t *req = json_pack("{s:s, s:o, s:b}", "model", st->model, "options",
                            cli_options_json(&st->params), "stream", 1);
    if (r->generate) {
        json_t *last = json_array_get(messages, json_array_size(messages) - 1);
        json_object_set(req, "prompt", json_object_get(last, "content"));
        if (st->system)
            json_object_set_new(req, "system", json_string(st->system));
    } else {
        json_object_set(req, "messages", messages);
    }
    json_t *fmt = st->format ? json_loads(st->format, JSON_DECODE_ANY, NULL) : NULL;
    if (fmt)
        json_object_set_new(req, "format", fmt);
    if (st->think >= 0)
        json_object_set_new(req, "think", json_boolean(st->think));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct turn t = {.last_nl = 1, .color = cli_color_stdout()};
    buf_init(&t.content, 64u << 20);
    struct httpc_opts o = {.method = "POST",
                           .body = body,
                           .on_line = on_chat_line,
                           .ud = &t,
                           .interrupt = st->interrupt};
    int status = 0;
    struct err e = {0};
    t.spin = cli_spinner_start("");
    int rc =
        httpc_request(r->base, r->generate ? "/api/generate" : "/api/chat", &o, &status, NULL, &e);
    cli_spinner_stop(t.spin);
    free(body);
    if (t.thinking && t.color)
        fputs("\033[0m", stdout);
    if (!t.last_nl || t.thinking)
        fputc('\n', stdout);
    fputc('\n', stdout);
    fflush(stdout);
    int ret = 0;
    if (rc == ERR_CANCELLED && !t.error[0]) {
        ret = 130;
    } else if (rc) {
        cli_error("%s", e.msg);
        ret = 1;
    } else if (t.error[0]) {
        cli_error("%s", t.error);
        ret = 1;
    } else if (status != 200) {
        cli_error("the server answered %d", status);
        ret = 1;
    } else if (t.final && st->verbose) {
        cli_print_timings(t.final);
    }
    json_decref(t.final);
    *reply = buf_steal(&t.content);
    return ret;
}

/* POST path with body (stolen); the parsed answer, or NULL with the error printed. */
static json_t *call(struct remote *r, const char *path, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct buf resp;
    buf_init(&resp, 64u << 20);
    struct httpc_opts o = {.method = "POST", .body = text};
    int status = 0;
    struct err e = {0};
    int rc = httpc_request(r->base, path, &o, &status, &resp, &e);
    free(text);
    json_t *j = rc ? NULL : json_loadb(resp.data ? resp.data : "", resp.len, 0, NULL);
    buf_free(&resp);
    if (rc) {
        cli_error("%s", e.msg);
        return NULL;
    }
    if (status != 200) {
        json_t *err = json_object_get(j, "error");
        cli_error("%s", json_is_string(err) ? json_string_value(err) : "the server failed");
        json_decref(j);
        return NULL;
    }
    return j;
}

static const char *str(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void remote_show(void *ud, const struct repl_state *st, const char *what)
{
    struct remote *r = ud;
    json_t *j = call(r, "/api/show", json_pack("{s:s}", "model", st->model));
    if (!j)
        return;
    if (!strcmp(what, "info")) {
        json_t *d = json_object_get(j, "details");
        printf("  Model\n");
        printf("    %-20s %s\n", "name", st->model);
        printf("    %-20s %s\n", "architecture", str(d, "family") ? str(d, "family") : "");
        printf("    %-20s %s\n", "parameters",
               str(d, "parameter_size") ? str(d, "parameter_size") : "");
        printf("    %-20s %s\n", "quantization",
               str(d, "quantization_level") ? str(d, "quantization_level") : "");
        json_t *mi = json_object_get(j, "model_info");
        const char *key;
        json_t *v;
        json_object_foreach(mi, key, v)
        {
            const char *dot = strrchr(key, '.');
            if (dot && (!strcmp(dot, ".context_length") || !strcmp(dot, ".embedding_length")) &&
                json_is_integer(v))
                printf("    %-20s %lld\n", dot + 1, (long long)json_integer_value(v));
        }
        json_t *caps = json_object_get(j, "capabilities");
        size_t i;
        json_array_foreach(caps, i, v)
            printf("    %-20s %s\n", i ? "" : "capabilities", json_string_value(v));
        if (st->params.n) {
            printf("  Parameters set in this session\n");
            for (int k = 0; k < st->params.n; k++)
                printf("    %s\n", st->params.v[k]);
        }
    } else if (!strcmp(what, "parameters")) {
        const char *p = str(j, "parameters");
        printf("%s",
               p && *p ? "Model defined parameters:\n" : "No parameters defined by the model.\n");
        if (p && *p)
            printf("%s\n", p);
        if (st->params.n) {
            printf("User defined parameters:\n");
            for (int k = 0; k < st->params.n; k++)
                printf("%s\n", st->params.v[k]);
        }
    } else if (!strcmp(what, "template") || !strcmp(what, "system") || !strcmp(what, "license") ||
               !strcmp(what, "modelfile")) {
        const char *v = !strcmp(what, "system") && st->system ? st->system : str(j, what);
        if (v && *v)
            printf("%s\n", v);
        else
            printf("No %s was specified for this model.\n", what);
    } else {
        printf("Unknown /show '%s' (info, parameters, template, system, license, modelfile)\n",
               what);
    }
    json_decref(j);
}

static int remote_load(void *ud, struct repl_state *st, const char *name)
{
    struct remote *r = ud;
    json_t *j = call(r, "/api/show", json_pack("{s:s}", "model", name));
    if (!j)
        return 1;
    const char *tmpl = str(j, "template");
    r->generate = !tmpl || !*tmpl;
    json_decref(j);
    /* Load it now (an empty prompt), so the next answer does not wait for it. */
    j = call(r, "/api/generate", json_pack("{s:s, s:b}", "model", name, "stream", 0));
    if (!j)
        return 1;
    json_decref(j);
    snprintf(st->model, sizeof st->model, "%s", name);
    return 0;
}

static int remote_save(void *ud, const struct repl_state *st, const char *name)
{
    struct remote *r = ud;
    json_t *req = json_pack("{s:s, s:s, s:b, s:o}", "model", name, "from", st->model, "stream", 0,
                            "parameters", cli_options_json(&st->params));
    if (st->system)
        json_object_set_new(req, "system", json_string(st->system));
    json_t *j = call(r, "/api/create", req);
    if (!j)
        return 1;
    json_decref(j);
    return 0;
}

int cli_repl_remote(const char *model, const struct strlist *given, const char *format, int verbose,
                    volatile int *interrupt)
{
    struct remote r;
    httpc_default_base(r.base, sizeof r.base);
    struct repl_state st = {.think = -1, .verbose = verbose, .interrupt = interrupt};
    snprintf(st.model, sizeof st.model, "%s", model);
    st.format = format ? xstrdup(format) : NULL;
    for (int i = 0; i < given->n; i++)
        strlist_add(&st.params, given->v[i]);
    json_t *show = call(&r, "/api/show", json_pack("{s:s}", "model", model));
    if (!show)
        return 1;
    const char *tmpl = str(show, "template");
    r.generate = !tmpl || !*tmpl;
    json_decref(show);
    fprintf(stderr, "hearth: chatting with %s through %s%s. /? for help, /bye or Ctrl-D leaves.\n",
            model, r.base,
            r.generate ? " (no chat template: each message is a prompt of its own)" : "");
    struct repl_ops ops = {.ud = &r,
                           .chat = remote_chat,
                           .show = remote_show,
                           .load = remote_load,
                           .save = remote_save};
    int status = repl_run(&st, &ops);
    strlist_free(&st.params);
    free(st.system);
    free(st.format);
    return status;
}
