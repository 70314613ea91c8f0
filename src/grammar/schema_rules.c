/* The schema converter's rule table, built-in rules, keywords and JSON pointer paths
 * (schema_int.h). */
#include "base/buf.h"
#include "base/util.h"
#include "grammar/schema.h"
#include "grammar/schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- rules ---- */

int conv_fail(struct conv *c, int code, const char *fmt, ...)
{
    if (c->failed)
        return c->e->code;
    c->failed = 1;
    char msg[sizeof c->e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(c->e, code, "JSON schema: %s", msg);
}

char *conv_full_name(struct conv *c, const char *base, const char *suffix)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, c->prefix);
    /* Runs of characters GBNF names cannot hold become one '-', as in llama.cpp. */
    int dash = 0;
    for (const char *s = base; *s; s++) {
        char ch = *s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-') {
            buf_append(&b, &ch, 1);
            dash = 0;
        } else if (!dash) {
            buf_puts(&b, "-");
            dash = 1;
        }
    }
    if (suffix)
        buf_puts(&b, suffix);
    return buf_steal(&b);
}

struct conv_rule *conv_find_rule(struct conv *c, const char *name)
{
    for (uint32_t i = 0; i < c->n_rules; i++)
        if (!strcmp(c->rules[i].name, name))
            return &c->rules[i];
    return NULL;
}

char *conv_add_rule(struct conv *c, const char *base, const char *body)
{
    if (c->failed)
        return NULL;
    char *name = conv_full_name(c, base, NULL);
    struct conv_rule *r = conv_find_rule(c, name);
    if (r && strcmp(r->body, body) != 0) {
        for (int i = 0;; i++) {
            char num[16];
            snprintf(num, sizeof num, "%d", i);
            char *alt = conv_full_name(c, base, num);
            r = conv_find_rule(c, alt);
            if (!r || !strcmp(r->body, body)) {
                free(name);
                name = alt;
                break;
            }
            free(alt);
        }
    }
    if (r)
        return name; /* the same rule already */
    if (c->n_rules >= SCHEMA_MAX_RULES) {
        free(name);
        conv_fail(c, ERR_TOO_LARGE, "the grammar needs more than %d rules", SCHEMA_MAX_RULES);
        return NULL;
    }
    c->size += strlen(name) + strlen(body) + 6;
    if (c->size > SCHEMA_MAX_GRAMMAR) {
        free(name);
        conv_fail(c, ERR_TOO_LARGE, "the grammar is over %u bytes", SCHEMA_MAX_GRAMMAR);
        return NULL;
    }
    if (c->n_rules == c->cap_rules) {
        c->cap_rules = c->cap_rules ? c->cap_rules * 2 : 32;
        c->rules = xrealloc(c->rules, c->cap_rules * sizeof *c->rules);
    }
    c->rules[c->n_rules].name = xstrdup(name);
    c->rules[c->n_rules].body = xstrdup(body);
    c->n_rules++;
    return name;
}

/* Built-in rules, '@' standing for the prefix before the rules they use. */
static const struct prim {
    const char *name, *body, *deps[6];
} prims[] = {
    {"boolean", "(\"true\" | \"false\")", {0}},
    {"decimal-part", "[0-9]{1,16}", {0}},
    {"integral-part", "[0] | [1-9] [0-9]{0,15}", {0}},
    {"number",
     "(\"-\"? @integral-part) (\".\" @decimal-part)? ([eE] [-+]? @integral-part)?",
     {"integral-part", "decimal-part"}},
    {"integer", "(\"-\"? @integral-part)", {"integral-part"}},
    {"value",
     "@object | @array | @string | @number | @boolean | @null",
     {"object", "array", "string", "number", "boolean", "null"}},
    {"object",
     "\"{\" @space ( @string \":\" @space @value (\",\" @space @string \":\" @space @value)* )? "
     "@space \"}\"",
     {"string", "value"}},
    {"array", "\"[\" @space ( @value (\",\" @space @value)* )? @space \"]\"", {"value"}},
    {"uuid",
     "\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} "
     "\"-\" [0-9a-fA-F]{12} \"\\\"\"",
     {0}},
    {"char", "[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})", {0}},
    {"string", "\"\\\"\" @char* \"\\\"\"", {"char"}},
    {"null", "\"null\"", {0}},
    {"date",
     "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" "
     "[0-1] )",
     {0}},
    {"time",
     "([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{3} )? ( "
     "\"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
     {0}},
    {"date-time", "@date \"T\" @time", {"date", "time"}},
    {"date-string", "\"\\\"\" @date \"\\\"\"", {"date"}},
    {"time-string", "\"\\\"\" @time \"\\\"\"", {"time"}},
    {"date-time-string", "\"\\\"\" @date-time \"\\\"\"", {"date-time"}},
    {"email-string",
     "\"\\\"\" [a-zA-Z0-9._%+\\-]+ \"\\x40\" [a-zA-Z0-9\\-]+ (\".\" [a-zA-Z0-9\\-]+)+ \"\\\"\"",
     {0}},
    {"ipv4-octet",
     "[0-9] | [1-9] [0-9] | \"1\" [0-9] [0-9] | \"2\" [0-4] [0-9] | \"25\" [0-5]",
     {0}},
    {"ipv4-string",
     "\"\\\"\" @ipv4-octet \".\" @ipv4-octet \".\" @ipv4-octet \".\" @ipv4-octet \"\\\"\"",
     {"ipv4-octet"}},
    {"space", "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}", {0}},
};

static const struct prim *conv_prim_find(const char *name)
{
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (!strcmp(prims[i].name, name))
            return &prims[i];
    return NULL;
}

int conv_is_reserved(const char *name)
{
    return !strcmp(name, "root") || conv_prim_find(name) != NULL;
}

static char *prim_body(struct conv *c, const char *body)
{
    struct buf b;
    buf_init(&b, 0);
    for (const char *s = body; *s; s++) {
        if (*s == '@')
            buf_puts(&b, c->prefix);
        else
            buf_append(&b, s, 1);
    }
    return buf_steal(&b);
}

/* Adds built-in p under the name `name` (p's own name, or "root" for a root that is only it). */
static char *prim_as(struct conv *c, const char *name, const struct prim *p)
{
    char *body = prim_body(c, p->body);
    char *r = conv_add_rule(c, name, body);
    free(body);
    for (int i = 0; r && i < 6 && p->deps[i]; i++) {
        char *full = conv_full_name(c, p->deps[i], NULL);
        int have = conv_find_rule(c, full) != NULL;
        free(full);
        if (!have)
            free(prim_as(c, p->deps[i], conv_prim_find(p->deps[i])));
    }
    return c->failed ? (free(r), NULL) : r;
}

char *conv_prim(struct conv *c, const char *name)
{
    return prim_as(c, name, conv_prim_find(name));
}

void conv_literal(struct buf *b, const char *s, size_t n)
{
    buf_puts(b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\r')
            buf_puts(b, "\\r");
        else if (ch == '\n')
            buf_puts(b, "\\n");
        else if (ch == '"')
            buf_puts(b, "\\\"");
        else if (ch == '\\')
            buf_puts(b, "\\\\");
        else if (ch < 0x20 || ch == 0x7F)
            buf_printf(b, "\\x%02X", ch);
        else
            buf_append(b, &s[i], 1);
    }
    buf_puts(b, "\"");
}

/* ---- keywords ---- */

static const char *const kw_names[] = {
    "type",    "enum",        "const",    "properties", "required",         "additionalProperties",
    "items",   "prefixItems", "minItems", "maxItems",   "minLength",        "maxLength",
    "pattern", "format",      "minimum",  "maximum",    "exclusiveMinimum", "exclusiveMaximum",
    "anyOf",   "oneOf",       "allOf",    "$ref",       "nullable",
};

/* Keywords that never change what matches: ignored wherever they are. */
static const char *const annotations[] = {
    "title",    "description", "default",  "examples",  "$schema", "$id",
    "$comment", "deprecated",  "readOnly", "writeOnly", "$defs",   "definitions",
};

int conv_check_keys(struct conv *c, json_t *s, uint32_t used, const char *path)
{
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v)
    {
        int ok = 0;
        for (size_t i = 0; !ok && i < sizeof annotations / sizeof *annotations; i++)
            ok = !strcmp(key, annotations[i]);
        for (size_t i = 0; !ok && i < sizeof kw_names / sizeof *kw_names; i++)
            if (!strcmp(key, kw_names[i])) {
                if (used & BIT(i))
                    ok = 1;
                else
                    return conv_fail(c, ERR_BAD_REQUEST,
                                     "keyword '%s' at %s is not supported in this combination "
                                     "(it would be ignored)",
                                     key, path);
            }
        if (!ok)
            return conv_fail(c, ERR_BAD_REQUEST, "unsupported keyword '%s' at %s", key, path);
    }
    return 0;
}

/* path + "/" + key, with key escaped as a JSON pointer token (~0, ~1). */
char *conv_sub_path(const char *path, const char *key)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, path);
    buf_puts(&b, "/");
    for (const char *s = key; *s; s++) {
        if (*s == '~')
            buf_puts(&b, "~0");
        else if (*s == '/')
            buf_puts(&b, "~1");
        else
            buf_append(&b, s, 1);
    }
    return buf_steal(&b);
}

char *conv_sub_path_i(const char *path, const char *key, size_t i)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s/%s/%zu", path, key, i);
    return buf_steal(&b);
}

/* name + "-" + more (no dash when name is empty), or alt_empty + more. */
char *conv_join_name(const char *name, const char *more)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s%s%s", name, *name ? "-" : "", more);
    return buf_steal(&b);
}

char *conv_prim_as(struct conv *c, const char *name, const char *prim)
{
    return prim_as(c, name, conv_prim_find(prim));
}

int conv_get_count(struct conv *c, json_t *s, const char *key, const char *path, int64_t *out)
{
    json_t *v = json_object_get(s, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return conv_fail(c, ERR_BAD_REQUEST, "%s at %s must be a non-negative integer", key, path);
    if (json_integer_value(v) > SCHEMA_MAX_REPEAT)
        return conv_fail(c, ERR_TOO_LARGE, "%s %lld at %s is over the limit of %d", key,
                         (long long)json_integer_value(v), path, SCHEMA_MAX_REPEAT);
    *out = json_integer_value(v);
    return 0;
}

/* item repeated min..max times (max < 0: no bound), items separated by sep when given. */
void conv_repetition(struct buf *b, const char *item, int64_t min, int64_t max, const char *sep)
{
    if (max == 0)
        return;
    if (min == 0 && max == 1) {
        buf_printf(b, "%s?", item);
        return;
    }
    if (!sep) {
        if (min == 1 && max < 0)
            buf_printf(b, "%s+", item);
        else if (min == 0 && max < 0)
            buf_printf(b, "%s*", item);
        else if (max < 0)
            buf_printf(b, "%s{%lld,}", item, (long long)min);
        else
            buf_printf(b, "%s{%lld,%lld}", item, (long long)min, (long long)max);
        return;
    }
    struct buf inner;
    buf_init(&inner, 0);
    buf_printf(&inner, "(%s %s)", sep, item);
    if (min == 0)
        buf_puts(b, "(");
    buf_printf(b, "%s ", item);
    conv_repetition(b, inner.data, min == 0 ? 0 : min - 1, max < 0 ? -1 : max - 1, NULL);
    if (min == 0)
        buf_puts(b, ")?");
    buf_free(&inner);
}

int conv_const_literal(struct conv *c, struct buf *b, json_t *v, const char *path)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return conv_fail(c, ERR_BAD_REQUEST, "a value at %s cannot be written as JSON", path);
    conv_literal(b, text, strlen(text));
    free(text);
    return 0;
}

/* The schema a local reference points at ("#" or "#/a/b" with ~0 ~1 escapes), or NULL. */
json_t *conv_resolve_pointer(json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    json_t *t = root;
    const char *s = ref + 1;
    while (*s == '/') {
        s++;
        size_t n = strcspn(s, "/");
        char tok[256];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof tok; i++) {
            if (s[i] == '~' && i + 1 < n && (s[i + 1] == '0' || s[i + 1] == '1')) {
                tok[k++] = s[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[k++] = s[i];
            }
        }
        tok[k] = 0;
        if (json_is_object(t)) {
            t = json_object_get(t, tok);
        } else if (json_is_array(t)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            t = (*tok && !*end) ? json_array_get(t, idx) : NULL;
        } else {
            t = NULL;
        }
        if (!t)
            return NULL;
        s += n;
    }
    return *s ? NULL : t;
}
