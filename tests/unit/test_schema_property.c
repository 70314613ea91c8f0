/* Property test of the schema converter: for N random schemas built from the supported keywords,
 * M strings drawn at random from the grammar all parse as JSON and validate against the schema
 * (json_validate.h). A failure prints the schema, the grammar and the string. */
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

#define N_SCHEMAS 300
#define N_SAMPLES 20

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)((rng >> 11) % n);
}

static json_t *gen(int depth);

static json_t *gen_string(void)
{
    static const char *const formats[] = {"date", "time", "date-time", "uuid", "email", "ipv4"};
    static const char *const patterns[] = {
        "^[a-z]{1,5}$",  "^\\d{3}-\\d{2}$",     "^(foo|bar)+$",
        "^.{0,3}$",      "^[^\"\\\\]*x$",       "a.c",
        "^[A-Z][a-z]*$", "^(?:\\w+\\s?){1,3}$", "^[\\x20-\\x7e]{2}$",
        "^\\S+@\\S+$",   "^[^a-z]?[\\n\\t]$",   "^\"q\"$",
    };
    json_t *s = json_pack("{s:s}", "type", "string");
    switch (rnd(4)) {
    case 0: json_object_set_new(s, "format", json_string(formats[rnd(6)])); break;
    case 1: json_object_set_new(s, "pattern", json_string(patterns[rnd(12)])); break;
    case 2: {
        int min = (int)rnd(4);
        if (rnd(2))
            json_object_set_new(s, "minLength", json_integer(min));
        if (rnd(2))
            json_object_set_new(s, "maxLength", json_integer(min + (int)rnd(5)));
        break;
    }
    default: break;
    }
    return s;
}

static json_t *gen_integer(void)
{
    json_t *s = json_pack("{s:s}", "type", "integer");
    long long lo = (long long)rnd(2000) - 1000, hi = lo + (long long)rnd(100000);
    static const char *const lower[] = {"minimum", "exclusiveMinimum"};
    static const char *const upper[] = {"maximum", "exclusiveMaximum"};
    if (rnd(3))
        json_object_set_new(s, lower[rnd(2)],
                            rnd(4) ? json_integer(lo) : json_real((double)lo + 0.5));
    if (rnd(3))
        json_object_set_new(s, upper[rnd(2)], json_integer(hi + 2));
    return s;
}

static json_t *gen_value(void)
{
    switch (rnd(5)) {
    case 0: return json_integer((json_int_t)rnd(100) - 50);
    case 1: return json_string(rnd(2) ? "a \"quoted\" word" : "ünï");
    case 2: return json_null();
    case 3: return json_pack("{s:[i,b]}", "k", 1, 1);
    default: return json_boolean(rnd(2));
    }
}

static json_t *gen_object(int depth)
{
    static const char *const names[] = {"a", "ab", "abc", "b", "name", "x y", "é"};
    json_t *s = json_object(), *props = json_object(), *req = json_array();
    if (rnd(2))
        json_object_set_new(s, "type", json_string("object"));
    int n = 1 + (int)rnd(4);
    for (int i = 0; i < n; i++) {
        const char *name = names[rnd(7)];
        if (json_object_get(props, name))
            continue;
        json_object_set_new(props, name, gen(depth + 1));
        if (rnd(2))
            json_array_append_new(req, json_string(name));
    }
    json_object_set_new(s, "properties", props);
    json_object_set_new(s, "required", req);
    switch (rnd(4)) {
    case 0: json_object_set_new(s, "additionalProperties", json_false()); break;
    case 1: json_object_set_new(s, "additionalProperties", json_true()); break;
    case 2: json_object_set_new(s, "additionalProperties", gen(depth + 1)); break;
    default: break;
    }
    return s;
}

static json_t *gen_array(int depth)
{
    json_t *s = json_pack("{s:s}", "type", "array");
    if (rnd(4) == 0) {
        json_t *t = json_array();
        int n = 1 + (int)rnd(3);
        for (int i = 0; i < n; i++)
            json_array_append_new(t, gen(depth + 1));
        json_object_set_new(s, "prefixItems", t);
        if (rnd(2))
            json_object_set_new(s, "items", rnd(2) ? json_false() : gen(depth + 1));
        return s;
    }
    if (rnd(4))
        json_object_set_new(s, "items", gen(depth + 1));
    int min = (int)rnd(3);
    if (rnd(2))
        json_object_set_new(s, "minItems", json_integer(min));
    if (rnd(2))
        json_object_set_new(s, "maxItems", json_integer(min + (int)rnd(4)));
    return s;
}

static json_t *gen(int depth)
{
    int k = (int)rnd(depth >= 3 ? 7 : 12);
    json_t *s;
    switch (k) {
    case 0: return gen_string();
    case 1: return gen_integer();
    case 2: return json_pack("{s:s}", "type", rnd(2) ? "number" : "boolean");
    case 3: {
        json_t *e = json_array();
        int n = 1 + (int)rnd(4);
        for (int i = 0; i < n; i++)
            json_array_append_new(e, gen_value());
        return json_pack("{s:o}", "enum", e);
    }
    case 4: return json_pack("{s:o}", "const", gen_value());
    case 5:
        s = gen_string();
        json_object_set_new(s, rnd(2) ? "nullable" : "description", json_true());
        if (json_is_true(json_object_get(s, "description")))
            json_object_set_new(s, "description", json_string("annotation"));
        return s;
    case 6: return rnd(2) ? json_object() : json_pack("{s:[s,s]}", "type", "integer", "null");
    case 7:
    case 8: return gen_object(depth);
    case 9: return gen_array(depth);
    case 10:
        return json_pack("{s:[o,o]}", rnd(2) ? "anyOf" : "oneOf", gen(depth + 1), gen(depth + 1));
    default:
        return json_pack("{s:[{s:o,s:[s]},{s:o}]}", "allOf", "properties",
                         json_pack("{s:{s:s}}", "p", "type", "integer"), "required", "p",
                         "properties", json_pack("{s:{s:s}}", "q", "type", "boolean"));
    }
}

int main(void)
{
    setlocale(LC_CTYPE, "C.UTF-8");
    const char *seed = getenv("SCHEMA_PROPERTY_SEED"); /* another run than the fixed one */
    if (seed)
        rng = strtoull(seed, NULL, 10) * 2654435761u | 1;
    long n_ok = 0;
    for (int i = 0; i < N_SCHEMAS; i++) {
        json_t *schema = gen(0);
        if (rnd(5) == 0) /* through a $ref */
            schema = json_pack("{s:{s:o}, s:s}", "$defs", "d", schema, "$ref", "#/$defs/d");
        char *g = NULL;
        struct err e = {0};
        int rc = grammar_from_schema(schema, "", &g, &e);
        CHECK(rc == 0);
        struct gbnf *p = NULL;
        if (!rc)
            CHECK(gbnf_parse(g, "root", &p, &e) == 0);
        int shown = 0;
        for (int k = 0; p && k < N_SAMPLES; k++) {
            char *s = gt_sample_one(p, (uint64_t)i * 1000 + (uint64_t)k + 1);
            if (!s)
                continue;
            json_t *v = jv_parse(s);
            int ok = v && jv_valid(v, schema, schema) && gt_accepts(p, s);
            CHECK(ok);
            n_ok += ok;
            if (!ok && !shown++) {
                char *st = json_dumps(schema, JSON_COMPACT);
                fprintf(stderr, "schema %s\nsample %s (%s)\ngrammar:\n%s\n", st, s,
                        v ? "JSON, not valid" : "not JSON", g);
                free(st);
            }
            json_decref(v);
            free(s);
        }
        if (rc) {
            char *st = json_dumps(schema, JSON_COMPACT);
            fprintf(stderr, "schema %s refused: %s\n", st, e.msg);
            free(st);
        }
        gbnf_free(p);
        free(g);
        json_decref(schema);
    }
    printf("%ld samples from %d random schemas parsed and validated\n", n_ok, N_SCHEMAS);
    CHECK(n_ok > N_SCHEMAS * N_SAMPLES / 2);
    return check_done("test_schema_property");
}
