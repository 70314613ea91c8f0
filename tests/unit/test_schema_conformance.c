/* Conformance with llama.cpp's converter: for every schema in the pinned tree's
 * tests/test-json-schema-to-grammar.cpp (copied to $LLAMA_DATA by scripts/deps.sh), hearth's
 * grammar and the grammar llama.cpp makes of it (the test file's expected output, which its own
 * test asserts equal to the converter's) must accept and reject the same strings.
 *
 * The strings: samples drawn at random from each grammar, and one-character mutations of them.
 * Where the two grammars disagree on a string, the schema decides (the string parsed as JSON and
 * checked by the test validator, json_validate.h): a disagreement is a failure unless hearth's
 * answer is the schema's, which is where llama.cpp's grammar is looser or stricter than its schema
 * (an unescaped quote from a regex class, a property name that is a prefix of another, allOf
 * reading optional properties as required). Those are counted and printed per case.
 *
 * Schemas llama.cpp accepts and hearth refuses (a keyword it would ignore) are listed below with
 * the reason; any other refusal fails. */
#include "base/buf.h"
#include "check.h"
#include "gbnf_tool.h"
#include "grammar/gbnf.h"
#include "grammar/schema.h"
#include "json_validate.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SAMPLES 150

static const char *const refused[][2] = {
    {"array with empty items and prefixItems",
     "prefixItems is not an array; llama.cpp ignores it beside items"},
    {"unsupported regexp in a property",
     "a lookahead; llama.cpp falls back to any string, hearth refuses the pattern"},
};

struct tcase {
    int success;
    char *name, *schema, *grammar;
};

/* A C string literal ("...") or a raw string R"""(...)""" at *p; NULL when neither. */
static char *read_literal(const char **p)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == ',' || *s == '\r')
        s++;
    if (!strncmp(s, "R\"\"\"(", 5)) {
        const char *end = strstr(s + 5, ")\"\"\"");
        if (!end)
            return NULL;
        *p = end + 4;
        return xstrndup(s + 5, (size_t)(end - s - 5));
    }
    if (*s != '"')
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    for (s++; *s && *s != '"'; s++) {
        if (*s == '\\' && s[1])
            s++;
        buf_append(&b, s, 1);
    }
    *p = *s ? s + 1 : s;
    return buf_steal(&b);
}

static size_t load_cases(const char *text, struct tcase **out)
{
    size_t n = 0;
    struct tcase *cs = NULL;
    for (const char *p = strstr(text, "test({"); p; p = strstr(p, "test({")) {
        p += 6;
        while (*p == ' ' || *p == '\n')
            p++;
        struct tcase c = {0};
        c.success = !strncmp(p, "SUCCESS", 7);
        p = strchr(p, ',');
        if (!p)
            break;
        p++;
        c.name = read_literal(&p);
        c.schema = c.name ? read_literal(&p) : NULL;
        c.grammar = c.schema ? read_literal(&p) : NULL;
        if (!c.grammar) {
            free(c.name);
            free(c.schema);
            continue;
        }
        cs = xrealloc(cs, (n + 1) * sizeof *cs);
        cs[n++] = c;
    }
    *out = cs;
    return n;
}

static int judge(const char *text, json_t *schema)
{
    json_t *v = jv_parse(text);
    if (!v)
        return 0;
    int ok = jv_valid(v, schema, schema);
    json_decref(v);
    return ok;
}

/* text with control characters written as \xNN, for messages (static buffer) */
static const char *show(const char *text)
{
    static char out[8192];
    size_t k = 0;
    for (const unsigned char *s = (const unsigned char *)text; *s && k + 8 < sizeof out; s++) {
        if (*s < 0x20 || *s == 0x7F)
            k += (size_t)snprintf(out + k, sizeof out - k, "\\x%02X", *s);
        else
            out[k++] = (char)*s;
    }
    out[k] = 0;
    return out;
}

static long n_strings, n_differ_llama, n_cases_compared;

static void compare(const struct tcase *c, json_t *schema, const struct gbnf *h,
                    const struct gbnf *l)
{
    int shown = 0;
    for (int i = 0; i < 4 * SAMPLES; i++) {
        const struct gbnf *from = i % 2 ? l : h;
        char *s = gt_sample_one(from, (uint64_t)i / 2 + 1);
        if (!s)
            continue;
        if (i >= 2 * SAMPLES) {
            char *m = gt_mutate(s, (uint64_t)i);
            free(s);
            s = m;
        } else if (from == h) {
            CHECK(gt_accepts(h, s)); /* the sampler and the matcher agree */
        }
        n_strings++;
        int ah = gt_accepts(h, s), al = gt_accepts(l, s);
        if (ah != al) {
            int truth = judge(s, schema);
            if (ah == truth) {
                n_differ_llama++;
                if (shown++ < 2)
                    printf("  [%s] llama.cpp's grammar %s %s, which the schema %s\n", c->name,
                           al ? "accepts" : "rejects", show(s),
                           truth ? "allows" : "does not allow");
            } else {
                CHECK(ah == truth);
                fprintf(stderr, "  [%s] hearth %s %s, llama.cpp %s, schema says %s\n", c->name,
                        ah ? "accepts" : "rejects", show(s), al ? "accepts" : "rejects",
                        truth ? "valid" : "invalid");
            }
        }
        free(s);
    }
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const char *dir = getenv("LLAMA_DATA");
    char path[4096];
    snprintf(path, sizeof path, "%s/test-json-schema-to-grammar.cpp",
             dir ? dir : "deps/llama-data");
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL); /* scripts/deps.sh installs it */
    if (!f) {
        fprintf(stderr, "cannot read %s (run scripts/deps.sh)\n", path);
        return check_done("test_schema_conformance");
    }
    struct buf text;
    buf_init(&text, 0);
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&text, chunk, r);
    fclose(f);
    struct tcase *cs;
    size_t n = load_cases(text.data, &cs);
    buf_free(&text);
    CHECK(n >= 75); /* the pinned file has 81 */
    size_t n_refused = 0;
    for (size_t i = 0; i < n; i++) {
        const struct tcase *c = &cs[i];
        json_error_t je;
        json_t *schema = json_loads(c->schema, JSON_DECODE_ANY, &je);
        char *g = NULL;
        struct err e = {0};
        int rc = schema ? grammar_from_schema(schema, "", &g, &e) : ERR_BAD_REQUEST;
        if (!c->success) {
            CHECK(rc != 0); /* llama.cpp refuses it: so does hearth */
            if (!rc)
                fprintf(stderr, "  [%s] hearth converts a schema llama.cpp refuses\n", c->name);
        } else if (rc) {
            int listed = 0;
            for (size_t k = 0; k < sizeof refused / sizeof *refused; k++)
                listed |= !strcmp(refused[k][0], c->name);
            CHECK(listed);
            if (listed) {
                n_refused++;
                printf("  [%s] refused as planned: %s\n", c->name, e.msg);
            } else {
                fprintf(stderr, "  [%s] hearth refuses: %s\n", c->name, e.msg);
            }
        } else {
            struct gbnf *h = NULL, *l = NULL;
            struct err le = {0};
            CHECK(gbnf_parse(g, "root", &h, &e) == 0);
            /* llama.cpp's grammar passes hearth's checker too */
            int lrc = gbnf_parse(c->grammar, "root", &l, &le);
            CHECK(lrc == 0);
            if (lrc)
                fprintf(stderr, "  [%s] llama.cpp's grammar: %s\n", c->name, le.msg);
            if (h && l) {
                compare(c, schema, h, l);
                n_cases_compared++;
            }
            gbnf_free(h);
            gbnf_free(l);
        }
        CHECK(n_refused <= sizeof refused / sizeof *refused);
        free(g);
        json_decref(schema);
        free(cs[i].name);
        free(cs[i].schema);
        free(cs[i].grammar);
    }
    free(cs);
    printf("%ld cases compared on %ld strings; %ld strings where llama.cpp's grammar departs from "
           "its schema and hearth's does not\n",
           n_cases_compared, n_strings, n_differ_llama);
    CHECK(n_cases_compared >= 70);
    return check_done("test_schema_conformance");
}
