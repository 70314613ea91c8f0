/* Renders chat templates through hearth's engine, for the conformance test
 * (tests/cli/test_jinja_conformance.sh) and by hand.
 *
 *   jinja_render TEMPLATE VARS.json     renders TEMPLATE with VARS' keys as variables (jinja.h)
 *   jinja_render --chat CASES.json      for each case {"template": path, "input": {"messages",
 *                                       "tools", "add_generation_prompt", "bos_token",
 *                                       "eos_token", "kwargs"}} renders through chat_render and
 *                                       prints [{"ok": true, "out": ...} | {"ok": false,
 *                                       "error": ...}] */
#include "chat/chat.h"
#include "chat/jinja.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t k;
    while (buf && (k = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += k;
        if (cap - len < 2) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    *n = len;
    return buf;
}

static int batch(const char *cases_path)
{
    json_error_t je;
    json_t *cases = json_load_file(cases_path, 0, &je);
    if (!json_is_array(cases)) {
        fprintf(stderr, "%s: %s\n", cases_path, je.text);
        return 2;
    }
    json_t *results = json_array();
    size_t i;
    json_t *cs;
    json_array_foreach(cases, i, cs)
    {
        size_t n;
        char *tmpl = slurp(json_string_value(json_object_get(cs, "template")), &n);
        json_t *in = json_object_get(cs, "input");
        struct chat_input ci = {
            .messages = json_object_get(in, "messages"),
            .tools = json_object_get(in, "tools"),
            .kwargs = json_object_get(in, "kwargs"),
            .add_generation_prompt = json_is_true(json_object_get(in, "add_generation_prompt")),
            .bos_token = json_string_value(json_object_get(in, "bos_token")),
            .eos_token = json_string_value(json_object_get(in, "eos_token")),
        };
        char *out = NULL;
        struct err e = {0};
        int rc = tmpl ? chat_render(tmpl, &ci, &out, &e) : -1;
        if (rc == 0)
            json_array_append_new(results, json_pack("{s:b,s:s}", "ok", 1, "out", out));
        else
            json_array_append_new(results, json_pack("{s:b,s:s}", "ok", 0, "error",
                                                     tmpl ? e.msg : "cannot read the template"));
        free(out);
        free(tmpl);
    }
    json_dumpf(results, stdout, JSON_COMPACT);
    json_decref(results);
    json_decref(cases);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--chat"))
        return batch(argv[2]);
    if (argc != 3) {
        fprintf(stderr,
                "usage: jinja_render TEMPLATE VARS.json | jinja_render --chat CASES.json\n");
        return 2;
    }
    size_t n;
    char *tmpl = slurp(argv[1], &n);
    json_error_t je;
    json_t *vars = json_load_file(argv[2], 0, &je);
    if (!tmpl || !json_is_object(vars)) {
        fprintf(stderr, "cannot read %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    char *out = NULL;
    struct err e = {0};
    int rc = jinja_render(tmpl, n, vars, NULL, &out, &e);
    if (rc)
        fprintf(stderr, "%s\n", e.msg);
    else
        fputs(out, stdout);
    free(out);
    free(tmpl);
    json_decref(vars);
    return rc ? 1 : 0;
}
