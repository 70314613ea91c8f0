/* JSON schema → GBNF (src/grammar/schema.h) and the GBNF checker (src/grammar/gbnf.h): the
 * grammar text for small schemas, which strings each keyword's grammar accepts and rejects
 * (through the test matcher in gbnf_tool.h), the errors for unsupported and bad schemas, the
 * limits, and the checker's answers on bad grammars. */
#include "base/buf.h"
#include "check.h"
#include "gbnf_tool.h"
#include "grammar/gbnf.h"
#include "grammar/schema.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *convert(const char *schema_text, const char *prefix, struct err *e)
{
    json_error_t je;
    json_t *s = json_loads(schema_text, JSON_DECODE_ANY, &je);
    if (!s) {
        fprintf(stderr, "bad test schema: %s\n", schema_text);
        return NULL;
    }
    char *g = NULL;
    if (grammar_from_schema(s, prefix, &g, e))
        g = NULL;
    json_decref(s);
    return g;
}

/* Checks that schema's grammar accepts every string of ok and none of bad (NULL-ended). */
static void check_lang(const char *schema, const char *const *ok, const char *const *bad)
{
    struct err e = {0};
    char *g = convert(schema, "", &e);
    CHECK(g != NULL);
    if (!g) {
        fprintf(stderr, "  schema %s: %s\n", schema, e.msg);
        return;
    }
    struct gbnf *p = NULL;
    CHECK(gbnf_parse(g, "root", &p, &e) == 0);
    for (int i = 0; p && ok[i]; i++) {
        int a = gt_accepts(p, ok[i]);
        CHECK(a);
        if (!a)
            fprintf(stderr, "  %s should accept %s\n%s", schema, ok[i], g);
    }
    for (int i = 0; p && bad && bad[i]; i++) {
        int a = gt_accepts(p, bad[i]);
        CHECK(!a);
        if (a)
            fprintf(stderr, "  %s should reject %s\n%s", schema, bad[i], g);
    }
    gbnf_free(p);
    free(g);
}

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The schema is refused with code and a message holding every one of the words. */
static void check_refused(const char *schema, int code, const char *w1, const char *w2)
{
    struct err e = {0};
    char *g = convert(schema, "", &e);
    CHECK(g == NULL);
    CHECK(e.code == code);
    CHECK(w1 == NULL || strstr(e.msg, w1) != NULL);
    CHECK(w2 == NULL || strstr(e.msg, w2) != NULL);
    if (g || e.code != code || (w1 && !strstr(e.msg, w1)) || (w2 && !strstr(e.msg, w2)))
        fprintf(stderr, "  schema %s: code %d, message: %s\n", schema, e.code, e.msg);
    free(g);
}

static void test_text(void)
{
    struct err e = {0};
    /* llama.cpp's own expected output for these (tests/test-json-schema-to-grammar.cpp) */
    char *g = convert("{\"type\": \"string\", \"minLength\": 1}", "", &e);
    CHECK_STR(g, "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" "
                 "[0-9a-fA-F]{4})\n"
                 "root ::= \"\\\"\" char+ \"\\\"\"\n"
                 "space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n");
    free(g);
    g = convert("{\"properties\": {\"b\": {\"type\": \"boolean\"}, \"a\": {\"const\": 1}}, "
                "\"required\": [\"a\", \"b\"]}",
                "", &e);
    CHECK_STR(g, "a ::= \"1\"\n"
                 "a-kv ::= \"\\\"a\\\"\" space \":\" space a\n"
                 "b-kv ::= \"\\\"b\\\"\" space \":\" space boolean\n"
                 "boolean ::= (\"true\" | \"false\")\n"
                 "root ::= \"{\" space b-kv \",\" space a-kv space \"}\"\n"
                 "space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n");
    free(g);
    /* with a prefix every rule name starts with it, so grammars can be joined */
    g = convert("{\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}}}", "t0-",
                &e);
    CHECK(g != NULL);
    for (const char *line = g; line && *line; line = strchr(line, '\n') + 1) {
        CHECK(strncmp(line, "t0-", 3) == 0);
        if (!strchr(line, '\n'))
            break;
    }
    CHECK(g && strstr(g, "t0-root ::=") != NULL);
    CHECK(g && strstr(g, " space") == NULL); /* every reference carries the prefix */
    struct gbnf *p = NULL;
    CHECK(g && gbnf_parse(g, "t0-root", &p, &e) == 0);
    CHECK(p && gt_accepts(p, "{\"x\": 12}"));
    gbnf_free(p);
    /* two prefixed grammars joined, under one root choosing either */
    char *g2 = convert("{\"enum\": [\"a\", \"b\"]}", "t1-", &e);
    char joined[8192];
    snprintf(joined, sizeof joined, "root ::= t0-root | t1-root\n%s%s", g ? g : "", g2 ? g2 : "");
    CHECK(gbnf_parse(joined, "root", &p, &e) == 0);
    CHECK(p && gt_accepts(p, "{\"x\":1}") && gt_accepts(p, "\"b\"") && !gt_accepts(p, "\"c\""));
    gbnf_free(p);
    free(g);
    free(g2);
}

static void test_keywords(void)
{
    check_lang("{}", L("1", "\"x\"", "[1, {\"a\": null}]", "true"), L("", "tru", "{a:1}"));
    check_lang("true", L("null", "[]"), L("x"));
    check_lang("{\"type\": \"string\"}", L("\"\"", "\"a\\\"b\"", "\"\\u00e9\""),
               L("\"a", "1", "\"\\x\""));
    check_lang("{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 3}",
               L("\"ab\"", "\"abc\"", "\"é中\""), L("\"a\"", "\"abcd\""));
    check_lang("{\"type\": \"integer\"}", L("0", "-12", "1234567890123456"),
               L("1.5", "01", "12345678901234567", "1e3"));
    check_lang("{\"type\": \"integer\", \"minimum\": -5, \"maximum\": 300}",
               L("-5", "0", "-0", "300", "17", "299"), L("-6", "301", "1000", "-10"));
    check_lang("{\"type\": \"integer\", \"exclusiveMinimum\": 9, \"exclusiveMaximum\": 100}",
               L("10", "99", "55"), L("9", "100", "0"));
    check_lang("{\"type\": \"integer\", \"minimum\": 2.5, \"maximum\": 7.9}", L("3", "7"),
               L("2", "8"));
    check_lang("{\"type\": \"integer\", \"maximum\": -20}", L("-20", "-999999"),
               L("-19", "0", "5"));
    check_lang("{\"type\": \"integer\", \"minimum\": 1000}",
               L("1000", "9999", "10000", "1234567890123456"), L("999", "0", "-1000"));
    check_lang("{\"type\": \"number\"}", L("1", "-0.5", "1e10", "2.5E-3"), L("1.", ".5", "+1"));
    check_lang("{\"type\": \"boolean\"}", L("true", "false"), L("1", "\"true\""));
    check_lang("{\"type\": \"null\"}", L("null"), L("0", "\"\""));
    check_lang("{\"enum\": [\"red\", 1, null, [1]]}", L("\"red\"", "1", "null", "[1]"),
               L("\"blue\"", "2", "[1 ]"));
    check_lang("{\"const\": {\"a\": \"x\\\"y\"}}", L("{\"a\":\"x\\\"y\"}"), L("{\"a\": \"x\"}"));
    check_lang("{\"type\": [\"string\", \"null\"], \"maxLength\": 2}", L("null", "\"ab\""),
               L("\"abc\"", "1"));
    check_lang("{\"type\": \"string\", \"nullable\": true}", L("null", "\"\""), L("1"));
    /* objects: required first in order, then optional ones in order, closed by default */
    const char *obj = "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}, "
                      "\"b\": {\"type\": \"string\"}, \"c\": {\"type\": \"boolean\"}}, "
                      "\"required\": [\"b\"]}";
    check_lang(obj,
               L("{\"b\": \"x\"}", "{\"b\":\"x\",\"a\":1}", "{\"b\":\"x\",\"a\":1,\"c\":true}",
                 "{\"b\":\"x\",\"c\":false}"),
               L("{}", "{\"a\":1}", "{\"a\":1,\"b\":\"x\"}", "{\"b\":\"x\",\"d\":1}",
                 "{\"b\":\"x\",\"c\":true,\"a\":1}"));
    check_lang("{\"type\": \"object\"}", L("{}", "{\"k\": [1]}"), L("[]", "1"));
    check_lang("{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"integer\"}}, "
               "\"additionalProperties\": {\"type\": \"string\"}}",
               L("{\"a\":1}", "{\"a\":1,\"b\":\"x\"}", "{\"b\":\"x\",\"ab\":\"y\"}", "{\"\":\"\"}"),
               L("{\"a\":\"x\"}", "{\"b\":1}", "{\"a\":1,\"a\":\"s\"}"));
    check_lang("{\"type\": \"object\", \"properties\": {\"ab\": {\"type\": \"integer\"}}, "
               "\"additionalProperties\": true}",
               L("{\"a\": 1}", "{\"abc\": []}", "{\"ab\": 2}"), L("{\"ab\": []}"));
    check_lang("{\"type\": \"object\", \"additionalProperties\": false}", L("{}", "{ }"),
               L("{\"a\":1}"));
    /* arrays */
    check_lang("{\"type\": \"array\", \"items\": {\"type\": \"integer\"}, \"minItems\": 1, "
               "\"maxItems\": 3}",
               L("[1]", "[1, 2, 3]"), L("[]", "[1,2,3,4]", "[\"a\"]"));
    check_lang("{\"type\": \"array\", \"maxItems\": 0}", L("[]"), L("[1]"));
    check_lang("{\"type\": \"array\"}", L("[]", "[1, \"a\", {}]"), L("{}"));
    check_lang("{\"prefixItems\": [{\"type\": \"integer\"}, {\"type\": \"string\"}]}",
               L("[1, \"a\"]"), L("[1]", "[1, \"a\", 2]", "[\"a\", 1]"));
    check_lang("{\"prefixItems\": [{\"type\": \"integer\"}], \"items\": {\"type\": \"string\"}}",
               L("[1]", "[1, \"a\", \"b\"]"), L("[1, 2]", "[]"));
    /* strings with formats and patterns */
    check_lang("{\"type\": \"string\", \"format\": \"date\"}", L("\"2024-02-29\""),
               L("\"2024-13-01\"", "\"24-01-01\""));
    check_lang("{\"type\": \"string\", \"format\": \"date-time\"}",
               L("\"2024-01-31T23:59:59Z\"", "\"2024-01-31T23:59:59.123+02:00\""),
               L("\"2024-01-31 23:59:59Z\""));
    check_lang("{\"type\": \"string\", \"format\": \"time\"}", L("\"08:30:00Z\""), L("\"8:30\""));
    check_lang("{\"type\": \"string\", \"format\": \"uuid\"}",
               L("\"123e4567-e89b-12d3-a456-426614174000\""), L("\"123e4567\""));
    check_lang("{\"type\": \"string\", \"format\": \"email\"}", L("\"a.b+c@example.co.uk\""),
               L("\"a@b\"", "\"@example.com\""));
    check_lang("{\"type\": \"string\", \"format\": \"ipv4\"}", L("\"192.168.0.255\""),
               L("\"256.1.1.1\"", "\"1.2.3\""));
    check_lang("{\"type\": \"string\", \"pattern\": \"^[A-Z]{2}-\\\\d{3,4}$\"}",
               L("\"AB-123\"", "\"XY-0000\""), L("\"ab-123\"", "\"AB-12\"", "\"AB-12345\""));
    check_lang("{\"pattern\": \"^(?:cat|dog)s?$\"}", L("\"cat\"", "\"dogs\""), L("\"cow\""));
    check_lang("{\"pattern\": \"ab\"}", L("\"ab\"", "\"xxabyy\""), L("\"a b\""));
    /* a dot or a negated class never lets an unescaped quote end the string early */
    check_lang("{\"pattern\": \"^.{2}$\"}", L("\"ab\"", "\"a\\\"\"", "\"\\\\x\""),
               L("\"\"\"", "\"a\nb\"", "\"a\""));
    check_lang("{\"pattern\": \"^[^a]+$\"}", L("\"bc\"", "\"\\\"\"", "\"\\n\""),
               L("\"a\"", "\"\"\""));
    /* anyOf / oneOf / allOf / $ref */
    check_lang("{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"string\"}]}", L("1", "\"a\""),
               L("true"));
    check_lang("{\"oneOf\": [{\"const\": 1}, {\"const\": 2}]}", L("1", "2"), L("3"));
    check_lang("{\"allOf\": [{\"properties\": {\"a\": {\"type\": \"integer\"}}, \"required\": "
               "[\"a\"]}, {\"properties\": {\"b\": {\"type\": \"integer\"}}}]}",
               L("{\"a\": 1}", "{\"a\": 1, \"b\": 2}"), L("{\"b\": 2}", "{\"a\": 1, \"c\": 2}"));
    check_lang("{\"allOf\": [{\"enum\": [1, 2, 3]}, {\"enum\": [2, 3, 4]}]}", L("2", "3"),
               L("1", "4"));
    check_lang("{\"$defs\": {\"n\": {\"type\": \"integer\", \"minimum\": 0}}, \"type\": "
               "\"array\", \"items\": {\"$ref\": \"#/$defs/n\"}}",
               L("[0, 5]"), L("[-1]"));
    /* recursion through $ref: a linked list */
    check_lang("{\"$defs\": {\"node\": {\"type\": \"object\", \"properties\": {\"v\": {\"type\": "
               "\"integer\"}, \"next\": {\"anyOf\": [{\"$ref\": \"#/$defs/node\"}, {\"type\": "
               "\"null\"}]}}, \"required\": [\"v\", \"next\"]}}, \"$ref\": \"#/$defs/node\"}",
               L("{\"v\": 1, \"next\": null}", "{\"v\": 1, \"next\": {\"v\": 2, \"next\": null}}"),
               L("{\"v\": 1}"));
    /* annotations are ignored */
    check_lang("{\"title\": \"T\", \"description\": \"d\", \"default\": 1, \"examples\": [1], "
               "\"type\": \"integer\"}",
               L("1"), L("\"1\""));
}

static void test_errors(void)
{
    check_refused("{\"type\": \"integer\", \"multipleOf\": 3}", ERR_BAD_REQUEST, "'multipleOf'",
                  "at #");
    check_refused("{\"properties\": {\"a\": {\"type\": \"string\", \"contentEncoding\": "
                  "\"base64\"}}}",
                  ERR_BAD_REQUEST, "'contentEncoding'", "#/properties/a");
    check_refused("{\"type\": \"number\", \"minimum\": 0}", ERR_BAD_REQUEST, "'minimum'", "#");
    check_refused("{\"type\": \"string\", \"pattern\": \"^a$\", \"maxLength\": 3}", ERR_BAD_REQUEST,
                  "'maxLength'", NULL);
    check_refused("{\"type\": \"string\", \"format\": \"hostname\"}", ERR_BAD_REQUEST, "'hostname'",
                  "supported");
    check_refused("{\"type\": \"string\", \"pattern\": \"^(?=a)a$\"}", ERR_BAD_REQUEST,
                  "lookaround", NULL);
    check_refused("{\"type\": \"string\", \"pattern\": \"^\\\\bx$\"}", ERR_BAD_REQUEST, "escape",
                  NULL);
    check_refused("{\"type\": \"string\", \"pattern\": \"^(a$\"}", ERR_BAD_REQUEST, "parenthesis",
                  NULL);
    check_refused("{\"type\": \"string\", \"pattern\": \"^(a*)*$\"}", ERR_BAD_REQUEST,
                  "empty string", NULL);
    check_refused("{\"type\": \"kaboom\"}", ERR_BAD_REQUEST, "kaboom", NULL);
    check_refused("{\"type\": 123}", ERR_BAD_REQUEST, "type", NULL);
    check_refused("[1]", ERR_BAD_REQUEST, "object or a boolean", NULL);
    check_refused("false", ERR_BAD_REQUEST, "false", NULL);
    check_refused("{\"$ref\": \"https://example.com/s.json\"}", ERR_BAD_REQUEST, "local", NULL);
    check_refused("{\"$ref\": \"#/$defs/missing\"}", ERR_BAD_REQUEST, "$ref", NULL);
    check_refused("{\"properties\": {\"a\": {}}, \"required\": [\"b\"]}", ERR_BAD_REQUEST, "'b'",
                  NULL);
    check_refused("{\"enum\": []}", ERR_BAD_REQUEST, "enum", NULL);
    check_refused("{\"anyOf\": []}", ERR_BAD_REQUEST, "anyOf", NULL);
    check_refused("{\"allOf\": [{\"enum\": [1]}, {\"enum\": [2]}]}", ERR_BAD_REQUEST, "share",
                  NULL);
    check_refused("{\"allOf\": [{\"type\": \"string\", \"minLength\": 2}]}", ERR_BAD_REQUEST,
                  "allOf", NULL);
    check_refused("{\"type\": \"integer\", \"minimum\": 5, \"maximum\": 4}", ERR_BAD_REQUEST,
                  "bounds", NULL);
    check_refused("{\"type\": \"integer\", \"minimum\": 1e300}", ERR_BAD_REQUEST, "minimum", NULL);
    check_refused("{\"type\": \"array\", \"minItems\": -1}", ERR_BAD_REQUEST, "minItems", NULL);
    check_refused("{\"anyOf\": [{\"type\": \"integer\"}], \"type\": \"string\"}", ERR_BAD_REQUEST,
                  "'type'", NULL);
    check_refused("{\"type\": \"object\", \"properties\": {\"a\\\"b\": {}}, "
                  "\"additionalProperties\": true}",
                  ERR_BAD_REQUEST, "additionalProperties", NULL);
    /* $ref cycles that read nothing: a grammar libllama would refuse as left-recursive */
    check_refused("{\"$ref\": \"#\"}", ERR_BAD_REQUEST, "left-recursive", NULL);
    check_refused("{\"$defs\": {\"a\": {\"anyOf\": [{\"$ref\": \"#/$defs/a\"}, {\"type\": "
                  "\"null\"}]}}, \"$ref\": \"#/$defs/a\"}",
                  ERR_BAD_REQUEST, "left-recursive", NULL);
}

static void test_limits(void)
{
    check_refused("{\"type\": \"array\", \"minItems\": 1000000}", ERR_TOO_LARGE, "minItems",
                  "limit");
    check_refused("{\"type\": \"string\", \"maxLength\": 5000}", ERR_TOO_LARGE, "maxLength", NULL);
    check_refused("{\"type\": \"string\", \"pattern\": \"^a{1,100000}$\"}", ERR_TOO_LARGE,
                  "repetition", NULL);
    /* nested repetitions that would expand past libllama's threshold */
    check_refused("{\"type\": \"string\", \"pattern\": \"^((a{1,60}){1,60}){1,60}$\"}",
                  ERR_TOO_LARGE, NULL, NULL);
    /* deep schemas */
    char deep[20000] = "";
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "{\"type\": \"array\", \"items\": ");
    n += (size_t)snprintf(deep + n, sizeof deep - n, "{}");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(deep + n, sizeof deep - n, "}");
    check_refused(deep, ERR_TOO_LARGE, "deep", NULL);
    /* deep patterns */
    char pat[4096] = "{\"pattern\": \"^";
    n = strlen(pat);
    for (int i = 0; i < 100; i++)
        pat[n++] = '(';
    pat[n++] = 'a';
    for (int i = 0; i < 100; i++)
        pat[n++] = ')';
    snprintf(pat + n, sizeof pat - n, "$\"}");
    check_refused(pat, ERR_TOO_LARGE, "nested", NULL);
    /* a long property name beside additionalProperties (its trie recurses per character) */
    char longname[1200] = "{\"properties\": {\"";
    n = strlen(longname);
    memset(longname + n, 'k', 1000);
    snprintf(longname + n + 1000, sizeof longname - n - 1000,
             "\": {}}, \"additionalProperties\": true}");
    check_refused(longname, ERR_TOO_LARGE, "256 bytes", NULL);
    /* many properties: fine up to the rule limit, refused past it */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"properties\": {");
    for (int i = 0; i < 3000; i++)
        buf_printf(&b, "%s\"p%d\": {\"type\": \"integer\", \"minimum\": %d}", i ? "," : "", i, i);
    buf_puts(&b, "}}");
    check_refused(b.data, ERR_TOO_LARGE, "rules", NULL);
    buf_free(&b);
}

static void check_gbnf(const char *text, int code, const char *word)
{
    struct err e = {0};
    int rc = gbnf_check(text, &e);
    CHECK(rc == code);
    CHECK(!word || strstr(e.msg, word) != NULL);
    if (rc != code || (word && !strstr(e.msg, word)))
        fprintf(stderr, "  grammar %.60s: rc %d, %s\n", text, rc, e.msg);
}

static void test_gbnf(void)
{
    check_gbnf("root ::= \"a\" | [b-d]+ x\nx ::= \"\\x41\" . # comment\n", 0, NULL);
    check_gbnf("root ::= (\"a\"\n  | \"b\") x{2,3} x{4} x{1,}\nx ::= [^\\]\\-]", 0, NULL);
    check_gbnf("root ::= <[12]> !<think> \"x\"", 0, NULL);
    check_gbnf("", ERR_BAD_REQUEST, "root");
    check_gbnf("start ::= \"a\"", ERR_BAD_REQUEST, "'root'");
    check_gbnf("root ::= foo", ERR_BAD_REQUEST, "'foo' is used but never defined");
    check_gbnf("root ::= \"a", ERR_BAD_REQUEST, "unterminated");
    check_gbnf("root ::= [a", ERR_BAD_REQUEST, "unterminated");
    check_gbnf("root ::= (\"a\"", ERR_BAD_REQUEST, "')'");
    check_gbnf("root ::= \"\\q\"", ERR_BAD_REQUEST, "escape");
    check_gbnf("root := \"a\"", ERR_BAD_REQUEST, "::=");
    check_gbnf("root ::= * \"a\"", ERR_BAD_REQUEST, "before");
    check_gbnf("root ::= \"a\"{3,2}", ERR_BAD_REQUEST, "below");
    check_gbnf("root ::= \"a\" ]", ERR_BAD_REQUEST, "line 1 column");
    check_gbnf("root ::= root \"a\" | \"b\"", ERR_BAD_REQUEST, "left-recursive");
    check_gbnf("root ::= x \"a\"\nx ::= \"\" | root", ERR_BAD_REQUEST, "left-recursive");
    check_gbnf("root ::= (\"a\"?)*", ERR_BAD_REQUEST, "empty string");
    check_gbnf("root ::= \"a\"{0,100000}", ERR_TOO_LARGE, "over");
    check_gbnf("root ::= ((\"a\"{0,100}){0,100})", ERR_TOO_LARGE, "rules");
    check_gbnf("root ::= \"a\"\nroot ::= \"b\"", ERR_BAD_REQUEST, "twice");
    check_gbnf("root ::= \"a\"+?+?+?+?+?", ERR_TOO_LARGE, "operators");
    /* the grammar that crashes llama-server: 60,000 nested groups */
    size_t depth = 60000;
    char *deep = xmalloc(2 * depth + 32);
    size_t n = (size_t)sprintf(deep, "root ::= ");
    memset(deep + n, '(', depth);
    n += depth;
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    memset(deep + n, ')', depth);
    deep[n + depth] = 0;
    check_gbnf(deep, ERR_TOO_LARGE, "nested");
    free(deep);
    /* a long chain of rules entered before any character */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "root ::= r1\n");
    for (int i = 1; i < 3000; i++)
        buf_printf(&b, "r%d ::= r%d\n", i, i + 1);
    buf_puts(&b, "r3000 ::= \"x\"\n");
    check_gbnf(b.data, ERR_TOO_LARGE, "chained");
    buf_free(&b);
    /* invalid UTF-8 */
    check_gbnf("root ::= \"\xff\"", ERR_BAD_REQUEST, "UTF-8");
    /* the matcher agrees with what the grammar says */
    struct gbnf *g = NULL;
    struct err e;
    CHECK(gbnf_parse("root ::= \"a\" b* | [0-9]{2}\nb ::= \"b\" | \"c\"", "root", &g, &e) == 0);
    CHECK(g && gt_accepts(g, "abcb") && gt_accepts(g, "a") && gt_accepts(g, "42"));
    CHECK(g && !gt_accepts(g, "ad") && !gt_accepts(g, "4") && !gt_accepts(g, ""));
    gbnf_free(g);
}

int main(int argc, char **argv)
{
    if (argc == 2) { /* a debugging aid: print the grammar of a schema */
        struct err e = {0};
        char *g = convert(argv[1], "", &e);
        printf("%s\n", g ? g : e.msg);
        free(g);
        return g ? 0 : 1;
    }
    test_text();
    test_keywords();
    test_errors();
    test_limits();
    test_gbnf();
    return check_done("test_schema");
}
