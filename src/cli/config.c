/* `hearth config [--json] [serve's flags]`: the settings `hearth serve` would run with, given
 * this environment and these flags, and where each came from. */
#include "base/util.h"
#include "cli/cli.h"
#include "cli/serve_settings.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void config_usage(void)
{
    printf("Usage: hearth config [--json] [serve's flags]\n"
           "\n"
           "Prints the settings `hearth serve` would run with, given the environment and the\n"
           "flags after it (the same as serve's: hearth config --parallel 2), each with its\n"
           "value and where it came from: default, env VARIABLE or flag --FLAG. Secrets (API\n"
           "keys, tokens) show only whether they are set. A bad value is refused as serve\n"
           "refuses it (exit status 2). `hearth serve --help` describes every setting.\n"
           "  --json    an array of {name, value, source, flag, env, default} for scripts\n"
           "            (value: a string, or a list of strings for --models-dir)\n");
}

/* "default", "env HEARTH_X" or "flag --x" into out. */
static void source_of(const struct setting_value *v, char *out, size_t len)
{
    if (v->source == SETTING_FROM_FLAG)
        snprintf(out, len, "flag %s", v->from);
    else if (v->source == SETTING_FROM_ENV)
        snprintf(out, len, "env %s", v->from);
    else
        snprintf(out, len, "default");
}

static json_t *to_json(const struct settings *s)
{
    json_t *arr = json_array();
    for (int i = 0; i < SETTING_COUNT; i++) {
        const struct setting *t = &serve_settings_table[i];
        const struct setting_value *v = &s->v[i];
        char value[4096], src[128];
        source_of(v, src, sizeof src);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(t->name));
        if (t->kind == SETTING_KIND_LIST) {
            json_t *items = json_array();
            for (int k = 0; k < v->list.n; k++)
                json_array_append_new(items, json_string(v->list.v[k]));
            json_object_set_new(o, "value", items);
        } else {
            serve_settings_value(s, (enum setting_id)i, value, sizeof value);
            json_object_set_new(o, "value", json_string(value));
        }
        json_object_set_new(o, "source", json_string(src));
        json_object_set_new(o, "flag", t->flag ? json_string(t->flag) : json_null());
        json_t *env = json_array();
        for (int k = 0; k < 2 && t->env[k]; k++)
            json_array_append_new(env, json_string(t->env[k]));
        json_object_set_new(o, "env", env);
        json_object_set_new(o, "default", t->def ? json_string(t->def) : json_null());
        if (v->ignored)
            json_object_set_new(o, "note", json_string(v->ignored));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void print_table(const struct settings *s)
{
    int wn = (int)strlen("SETTING"), wv = (int)strlen("VALUE");
    char value[4096], src[128];
    for (int i = 0; i < SETTING_COUNT; i++) {
        serve_settings_value(s, (enum setting_id)i, value, sizeof value);
        int n = (int)strlen(serve_settings_table[i].name), m = (int)strlen(value);
        wn = n > wn ? n : wn;
        wv = m > wv ? m : wv;
    }
    printf("%-*s  %-*s  %s\n", wn, "SETTING", wv, "VALUE", "SOURCE");
    for (int i = 0; i < SETTING_COUNT; i++) {
        const struct setting_value *v = &s->v[i];
        serve_settings_value(s, (enum setting_id)i, value, sizeof value);
        source_of(v, src, sizeof src);
        printf("%-*s  %-*s  %s", wn, serve_settings_table[i].name, wv, value[0] ? value : "-", src);
        if (v->ignored)
            printf(" (%s)", v->ignored);
        putchar('\n');
    }
}

int cmd_config(int argc, char **argv)
{
    int json = 0;
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            config_usage();
            free(rest);
            return 0;
        }
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            rest[n++] = argv[i];
    }
    struct settings s;
    int rc = serve_settings_read(&s, n, rest);
    if (!rc) {
        if (json) {
            json_t *arr = to_json(&s);
            json_dumpf(arr, stdout, JSON_INDENT(2));
            putchar('\n');
            json_decref(arr);
        } else {
            print_table(&s);
        }
    }
    serve_settings_free(&s);
    free(rest);
    return rc;
}
