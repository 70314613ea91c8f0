/* JSON schema → GBNF (schema.h). The shape of the output, the rule names and the built-in rules
 * follow llama.cpp's common/json-schema-to-grammar.cpp; the walk over the schema, the keyword
 * checks and the limits are hearth's. Patterns are in schema_pattern.c. */
#include "grammar/schema.h"
#include "base/buf.h"
#include "base/util.h"
#include "grammar/gbnf.h"
#include "grammar/schema_int.h"

#include <math.h>
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

static char *full_name(struct conv *c, const char *base, const char *suffix)
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

static struct conv_rule *find_rule(struct conv *c, const char *name)
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
    char *name = full_name(c, base, NULL);
    struct conv_rule *r = find_rule(c, name);
    if (r && strcmp(r->body, body) != 0) {
        for (int i = 0;; i++) {
            char num[16];
            snprintf(num, sizeof num, "%d", i);
            char *alt = full_name(c, base, num);
            r = find_rule(c, alt);
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
    {"ipv4-octet", "[0-9] | [1-9] [0-9] | \"1\" [0-9] [0-9] | \"2\" [0-4] [0-9] | \"25\" [0-5]",
     {0}},
    {"ipv4-string",
     "\"\\\"\" @ipv4-octet \".\" @ipv4-octet \".\" @ipv4-octet \".\" @ipv4-octet \"\\\"\"",
     {"ipv4-octet"}},
    {"space", "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}", {0}},
};

static const struct prim *prim_find(const char *name)
{
    for (size_t i = 0; i < sizeof prims / sizeof *prims; i++)
        if (!strcmp(prims[i].name, name))
            return &prims[i];
    return NULL;
}

static int is_reserved(const char *name)
{
    return !strcmp(name, "root") || prim_find(name) != NULL;
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
static char *add_prim_as(struct conv *c, const char *name, const struct prim *p)
{
    char *body = prim_body(c, p->body);
    char *r = conv_add_rule(c, name, body);
    free(body);
    for (int i = 0; r && i < 6 && p->deps[i]; i++) {
        char *full = full_name(c, p->deps[i], NULL);
        int have = find_rule(c, full) != NULL;
        free(full);
        if (!have)
            free(add_prim_as(c, p->deps[i], prim_find(p->deps[i])));
    }
    return c->failed ? (free(r), NULL) : r;
}

char *conv_prim(struct conv *c, const char *name)
{
    return add_prim_as(c, name, prim_find(name));
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

enum kw {
    KW_TYPE,
    KW_ENUM,
    KW_CONST,
    KW_PROPERTIES,
    KW_REQUIRED,
    KW_ADDITIONAL,
    KW_ITEMS,
    KW_PREFIX_ITEMS,
    KW_MIN_ITEMS,
    KW_MAX_ITEMS,
    KW_MIN_LENGTH,
    KW_MAX_LENGTH,
    KW_PATTERN,
    KW_FORMAT,
    KW_MINIMUM,
    KW_MAXIMUM,
    KW_EX_MINIMUM,
    KW_EX_MAXIMUM,
    KW_ANY_OF,
    KW_ONE_OF,
    KW_ALL_OF,
    KW_REF,
    KW_NULLABLE,
};

static const char *const kw_names[] = {
    "type",          "enum",      "const",     "properties", "required",
    "additionalProperties",       "items",     "prefixItems", "minItems",
    "maxItems",      "minLength", "maxLength", "pattern",    "format",
    "minimum",       "maximum",   "exclusiveMinimum",        "exclusiveMaximum",
    "anyOf",         "oneOf",     "allOf",     "$ref",       "nullable",
};

/* Keywords that never change what matches: ignored wherever they are. */
static const char *const annotations[] = {
    "title",      "description", "default",  "examples",  "$schema",   "$id",
    "$comment",   "deprecated",  "readOnly", "writeOnly", "$defs",     "definitions",
};

#define BIT(k) (1u << (k))

static int check_keys(struct conv *c, json_t *s, uint32_t used, const char *path)
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
static char *sub_path(const char *path, const char *key)
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

static char *sub_path_i(const char *path, const char *key, size_t i)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s/%s/%zu", path, key, i);
    return buf_steal(&b);
}

/* name + "-" + more (no dash when name is empty), or alt_empty + more. */
static char *join_name(const char *name, const char *more)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s%s%s", name, *name ? "-" : "", more);
    return buf_steal(&b);
}

/* ---- the walk ---- */

struct walk {
    json_t *root;
    char **resolving; /* $refs being converted, for cycles */
    size_t n_resolving;
};

static char *visit(struct conv *c, struct walk *w, json_t *s, const char *name, const char *path);

static int get_count(struct conv *c, json_t *s, const char *key, const char *path, int64_t *out)
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
static void repetition(struct buf *b, const char *item, int64_t min, int64_t max, const char *sep)
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
    repetition(b, inner.data, min == 0 ? 0 : min - 1, max < 0 ? -1 : max - 1, NULL);
    if (min == 0)
        buf_puts(b, ")?");
    buf_free(&inner);
}

/* ---- integers in a range ---- */

/* Numbers from a to b, two digit strings of the same length (a <= b), as alternatives. */
static void same_len(struct buf *b, const char *a, const char *z, size_t len)
{
    size_t i = 0;
    while (i < len && a[i] == z[i])
        i++;
    if (i == len) {
        buf_printf(b, "\"%.*s\"", (int)len, a);
        return;
    }
    if (i > 0)
        buf_printf(b, "\"%.*s\" ", (int)i, a);
    size_t r = len - i - 1;
    char da = a[i], dz = z[i];
    if (r == 0) {
        buf_printf(b, "[%c-%c]", da, dz);
        return;
    }
    char rep[32] = "";
    if (r > 1)
        snprintf(rep, sizeof rep, "{%u}", (unsigned)r);
    int a_zero = strspn(a + i + 1, "0") >= r, z_nine = strspn(z + i + 1, "9") >= r;
    if (a_zero && z_nine) {
        buf_printf(b, "[%c-%c] [0-9]%s", da, dz, rep);
        return;
    }
    char nines[20], zeros[20];
    memset(nines, '9', r);
    memset(zeros, '0', r);
    buf_puts(b, i > 0 ? "(" : "");
    int first = 1;
    if (!a_zero) {
        buf_printf(b, "[%c] (", da);
        same_len(b, a + i + 1, nines, r);
        buf_puts(b, ")");
        first = 0;
    }
    char lo = a_zero ? da : (char)(da + 1), hi = z_nine ? dz : (char)(dz - 1);
    if (lo <= hi) {
        if (lo == hi)
            buf_printf(b, "%s[%c] [0-9]%s", first ? "" : " | ", lo, rep);
        else
            buf_printf(b, "%s[%c-%c] [0-9]%s", first ? "" : " | ", lo, hi, rep);
        first = 0;
    }
    if (!z_nine) {
        buf_printf(b, "%s[%c] (", first ? "" : " | ", dz);
        same_len(b, zeros, z + i + 1, r);
        buf_puts(b, ")");
    }
    buf_puts(b, i > 0 ? ")" : "");
}

#define INT_BIG 9999999999999999LL /* the largest integer of 16 digits */

/* The decimal integers lo..hi, 0 <= lo <= hi <= INT_BIG, without leading zeros. */
static void int_range(struct buf *b, long long lo, long long hi)
{
    char slo[24], shi[24], a[24], z[24];
    int nlo = snprintf(slo, sizeof slo, "%lld", lo), nhi = snprintf(shi, sizeof shi, "%lld", hi);
    if (nlo == nhi) {
        same_len(b, slo, shi, (size_t)nlo);
        return;
    }
    /* lo up to the largest number of its length, then every length in between, then the
     * smallest number of hi's length up to hi (all of that length when hi is all nines) */
    memset(z, '9', (size_t)nlo);
    same_len(b, slo, z, (size_t)nlo);
    int all_nines = (int)strspn(shi, "9") == nhi;
    int last_full = all_nines ? nhi : nhi - 1;
    if (last_full > nlo) {
        if (nlo + 1 == last_full)
            buf_printf(b, " | [1-9] [0-9]{%d}", nlo);
        else
            buf_printf(b, " | [1-9] [0-9]{%d,%d}", nlo, last_full - 1);
    }
    if (!all_nines) {
        a[0] = '1';
        memset(a + 1, '0', (size_t)nhi - 1);
        buf_puts(b, " | ");
        same_len(b, a, shi, (size_t)nhi);
    }
}

/* min/max: INT64_MIN / INT64_MAX for none. */
static void int_rule(struct buf *b, int64_t min, int64_t max)
{
    int has_min = min != INT64_MIN, has_max = max != INT64_MAX;
    buf_puts(b, "(");
    if (has_min && has_max && max < 0) {
        buf_puts(b, "\"-\" (");
        int_range(b, -max, -min);
        buf_puts(b, ")");
    } else if (has_min && min < 0) {
        buf_puts(b, "\"-\" (");
        int_range(b, 0, -min);
        buf_puts(b, ") | ");
        int_range(b, 0, has_max ? max : INT_BIG);
    } else if (has_min) {
        int_range(b, min, has_max ? max : INT_BIG);
    } else if (max >= 0) {
        buf_puts(b, "\"-\" (");
        int_range(b, 1, INT_BIG);
        buf_puts(b, ") | ");
        int_range(b, 0, max);
    } else {
        buf_puts(b, "\"-\" (");
        int_range(b, -max, INT_BIG);
        buf_puts(b, ")");
    }
    buf_puts(b, ")");
}

static int get_bound(struct conv *c, json_t *s, const char *key, int up, const char *path,
                     int64_t *out)
{
    json_t *v = json_object_get(s, key);
    if (!json_is_number(v))
        return conv_fail(c, ERR_BAD_REQUEST, "%s at %s must be a number", key, path);
    double d = json_number_value(v);
    if (!(fabs(d) <= (double)SCHEMA_MAX_INT))
        return conv_fail(c, ERR_BAD_REQUEST, "%s at %s is outside -10^15..10^15", key, path);
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v)
                              : (int64_t)(up ? ceil(d) : floor(d));
    return 0;
}

static char *visit_integer(struct conv *c, json_t *s, const char *rule_name, const char *path,
                           uint32_t *used)
{
    int64_t min = INT64_MIN, max = INT64_MAX, v = 0;
    static const struct {
        const char *key;
        int kw, lower, exclusive;
    } bounds[] = {{"minimum", KW_MINIMUM, 1, 0},
                  {"exclusiveMinimum", KW_EX_MINIMUM, 1, 1},
                  {"maximum", KW_MAXIMUM, 0, 0},
                  {"exclusiveMaximum", KW_EX_MAXIMUM, 0, 1}};
    for (size_t i = 0; i < 4; i++) {
        if (!json_object_get(s, bounds[i].key))
            continue;
        *used |= BIT(bounds[i].kw);
        /* A fractional bound rounds inwards; an exclusive one moves past the value. */
        if (get_bound(c, s, bounds[i].key, bounds[i].lower ^ bounds[i].exclusive, path, &v))
            return NULL;
        if (bounds[i].lower) {
            v += bounds[i].exclusive;
            min = v > min ? v : min;
        } else {
            v -= bounds[i].exclusive;
            max = v < max ? v : max;
        }
    }
    if (min != INT64_MIN && max != INT64_MAX && min > max) {
        conv_fail(c, ERR_BAD_REQUEST, "no integer is within the bounds at %s", path);
        return NULL;
    }
    if (min == INT64_MIN && max == INT64_MAX)
        return add_prim_as(c, !strcmp(rule_name, "root") ? "root" : "integer",
                           prim_find("integer"));
    struct buf b;
    buf_init(&b, 0);
    int_rule(&b, min, max);
    char *r = conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

/* ---- strings ---- */

static char *visit_string(struct conv *c, json_t *s, const char *rule_name, const char *path,
                          uint32_t *used)
{
    json_t *pattern = json_object_get(s, "pattern");
    if (pattern) {
        *used |= BIT(KW_PATTERN);
        if (!json_is_string(pattern)) {
            conv_fail(c, ERR_BAD_REQUEST, "pattern at %s must be a string", path);
            return NULL;
        }
        return conv_pattern(c, json_string_value(pattern), rule_name, path);
    }
    json_t *format = json_object_get(s, "format");
    if (format) {
        *used |= BIT(KW_FORMAT);
        const char *f = json_string_value(format);
        if (!f) {
            conv_fail(c, ERR_BAD_REQUEST, "format at %s must be a string", path);
            return NULL;
        }
        const char *prim = NULL;
        if (!strcmp(f, "uuid") ||
            (strlen(f) == 5 && !strncmp(f, "uuid", 4) && f[4] >= '1' && f[4] <= '5'))
            return add_prim_as(c, !strcmp(rule_name, "root") ? "root" : "uuid",
                               prim_find("uuid"));
        if (!strcmp(f, "date"))
            prim = "date-string";
        else if (!strcmp(f, "time"))
            prim = "time-string";
        else if (!strcmp(f, "date-time"))
            prim = "date-time-string";
        else if (!strcmp(f, "email"))
            prim = "email-string";
        else if (!strcmp(f, "ipv4"))
            prim = "ipv4-string";
        if (!prim) {
            conv_fail(c, ERR_BAD_REQUEST,
                      "format '%.64s' at %s is not supported (supported: date, time, "
                      "date-time, uuid, email, ipv4)",
                      f, path);
            return NULL;
        }
        char *p = conv_prim(c, prim);
        char *r = p ? conv_add_rule(c, rule_name, p) : NULL;
        free(p);
        return r;
    }
    int64_t min = 0, max = -1;
    *used |= BIT(KW_MIN_LENGTH) | BIT(KW_MAX_LENGTH);
    if (get_count(c, s, "minLength", path, &min) || get_count(c, s, "maxLength", path, &max))
        return NULL;
    if (max >= 0 && min > max) {
        conv_fail(c, ERR_BAD_REQUEST, "minLength is above maxLength at %s", path);
        return NULL;
    }
    if (min == 0 && max < 0)
        return add_prim_as(c, !strcmp(rule_name, "root") ? "root" : "string",
                           prim_find("string"));
    char *ch = conv_prim(c, "char");
    if (!ch)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "\"\\\"\" ");
    repetition(&b, ch, min, max, NULL);
    buf_puts(&b, " \"\\\"\"");
    char *r = conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    free(ch);
    return r;
}

/* ---- enum and const ---- */

static int const_literal(struct conv *c, struct buf *b, json_t *v, const char *path)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return conv_fail(c, ERR_BAD_REQUEST, "a value at %s cannot be written as JSON", path);
    conv_literal(b, text, strlen(text));
    free(text);
    return 0;
}

static char *visit_enum(struct conv *c, json_t *values, const char *rule_name, const char *path)
{
    if (!json_is_array(values) || !json_array_size(values)) {
        conv_fail(c, ERR_BAD_REQUEST, "enum at %s must be a non-empty array", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "(");
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v)
    {
        if (i)
            buf_puts(&b, " | ");
        if (const_literal(c, &b, v, path))
            break;
    }
    buf_puts(&b, ")");
    char *r = c->failed ? NULL : conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

/* ---- $ref ---- */

/* The schema a local reference points at ("#" or "#/a/b" with ~0 ~1 escapes), or NULL. */
static json_t *resolve_pointer(json_t *root, const char *ref)
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

static char *visit_ref(struct conv *c, struct walk *w, json_t *ref, const char *rule_name,
                       const char *path)
{
    const char *r = json_string_value(ref);
    if (!r) {
        conv_fail(c, ERR_BAD_REQUEST, "$ref at %s must be a string", path);
        return NULL;
    }
    json_t *target = resolve_pointer(w->root, r);
    if (!target) {
        conv_fail(c, ERR_BAD_REQUEST,
                  "$ref '%.128s' at %s does not point into this schema (only local references "
                  "like \"#/$defs/name\" are supported)",
                  r, path);
        return NULL;
    }
    struct buf bn;
    buf_init(&bn, 0);
    buf_printf(&bn, "ref%s", r + 1); /* "ref" + the fragment, as llama.cpp names it */
    char *base = buf_steal(&bn);
    char *name = full_name(c, base, NULL);
    int known = find_rule(c, name) != NULL, busy = 0;
    for (size_t i = 0; i < w->n_resolving; i++)
        busy |= !strcmp(w->resolving[i], r);
    char *out;
    if (known || busy) {
        out = name; /* a cycle refers to the rule being built; the grammar check rejects a
                       cycle that reads nothing */
        name = NULL;
    } else {
        w->resolving = xrealloc(w->resolving, (w->n_resolving + 1) * sizeof *w->resolving);
        w->resolving[w->n_resolving++] = xstrdup(r);
        out = visit(c, w, target, base, r);
        free(w->resolving[--w->n_resolving]);
    }
    free(name);
    free(base);
    if (!out)
        return NULL;
    char *res = conv_add_rule(c, rule_name, out);
    free(out);
    return res;
}

/* ---- objects ---- */

struct prop {
    const char *name;
    char *kv; /* full rule name */
    int required;
};

/* The trie of property names for not_strings: a node's children by code point. */
struct trie {
    uint32_t cp;
    int end;
    struct trie *kids;
    size_t n;
};

static void trie_add(struct trie *t, const unsigned char *s)
{
    if (!*s) {
        t->end = 1;
        return;
    }
    int len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : 4;
    uint32_t cp = len == 1 ? s[0] : s[0] & (0x7Fu >> len);
    for (int i = 1; i < len && s[i]; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    size_t k = 0;
    while (k < t->n && t->kids[k].cp != cp)
        k++;
    if (k == t->n) {
        t->kids = xrealloc(t->kids, (t->n + 1) * sizeof *t->kids);
        memset(&t->kids[t->n], 0, sizeof *t->kids);
        t->kids[t->n++].cp = cp;
    }
    const unsigned char *next = s;
    for (int i = 0; i < len && *next; i++)
        next++;
    trie_add(&t->kids[k], next);
}

static void trie_free(struct trie *t)
{
    for (size_t i = 0; i < t->n; i++)
        trie_free(&t->kids[i]);
    free(t->kids);
}

static void class_cp(struct buf *b, uint32_t cp)
{
    if (cp == ']' || cp == '-' || cp == '\\' || cp == '"' || cp == '^')
        buf_printf(b, "\\%c", cp == '^' ? '^' : (char)cp);
    else if (cp < 0x20 || cp == 0x7F)
        buf_printf(b, "\\x%02X", cp);
    else if (cp < 0x80)
        buf_printf(b, "%c", (char)cp);
    else
        buf_printf(b, "\\U%08X", cp);
}

/* Keys (the text between the quotes) after node t's prefix that complete no property name:
 * a child's path, any other character, or the end when t is not a name itself. */
static void not_strings_node(struct buf *b, const struct trie *t, const char *ch)
{
    for (size_t i = 0; i < t->n; i++) {
        buf_puts(b, i ? " | [" : "[");
        class_cp(b, t->kids[i].cp);
        buf_puts(b, "]");
        if (t->kids[i].n) {
            buf_puts(b, " (");
            not_strings_node(b, &t->kids[i], ch);
            buf_puts(b, ")");
            if (!t->kids[i].end)
                buf_puts(b, "?");
        } else {
            buf_printf(b, " %s+", ch);
        }
    }
    /* any other unescaped character, or an escape, then anything */
    buf_puts(b, " | [^\"\\\\\\x00-\\x1F");
    for (size_t i = 0; i < t->n; i++)
        class_cp(b, t->kids[i].cp);
    buf_printf(b, "] %s* | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4}) %s*", ch, ch);
}

static char *not_strings(struct conv *c, struct prop *props, size_t n, const char *path)
{
    struct trie t = {0};
    for (size_t i = 0; i < n; i++) {
        for (const char *s = props[i].name; *s; s++)
            if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == 0x7F) {
                trie_free(&t);
                conv_fail(c, ERR_BAD_REQUEST,
                          "additionalProperties at %s cannot be combined with a property name "
                          "holding quotes, backslashes or control characters",
                          path);
                return NULL;
            }
        trie_add(&t, (const unsigned char *)props[i].name);
    }
    char *ch = conv_prim(c, "char");
    if (!ch) {
        trie_free(&t);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "[\"] ( ");
    not_strings_node(&b, &t, ch);
    buf_printf(&b, " )%s [\"]", t.end ? "" : "?");
    trie_free(&t);
    free(ch);
    return buf_steal(&b);
}

/* The object rule's body: required properties in order, then the optional ones in order, each
 * optional one possibly absent (llama.cpp's shape with its "-rest" rules). */
static char *object_body(struct conv *c, struct prop *props, size_t n, char *extra_kv,
                         const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "\"{\" %sspace ", c->prefix);
    size_t n_req = 0, n_opt = 0;
    struct prop **opt = xcalloc(n + 1, sizeof *opt);
    for (size_t i = 0; i < n; i++) {
        if (props[i].required) {
            if (n_req++)
                buf_printf(&b, " \",\" %sspace ", c->prefix);
            buf_puts(&b, props[i].kv);
        } else {
            opt[n_opt++] = &props[i];
        }
    }
    struct prop star = {"*", extra_kv, 0};
    if (extra_kv)
        opt[n_opt++] = &star;
    if (!n_req && !n_opt) {
        free(opt);
        buf_reset(&b);
        buf_printf(&b, "\"{\" %sspace \"}\"", c->prefix);
        return buf_steal(&b);
    }
    if (n_opt) {
        buf_puts(&b, " (");
        if (n_req)
            buf_printf(&b, " \",\" %sspace ( ", c->prefix);
        /* rest[i]: the optional properties from i on, each possibly absent, after a comma. */
        char **rest = xcalloc(n_opt + 1, sizeof *rest);
        for (size_t i = n_opt; i-- > 1 && !c->failed;) {
            struct buf r;
            buf_init(&r, 0);
            int star_i = opt[i] == &star;
            buf_printf(&r, "( \",\" %sspace %s )%s", c->prefix, opt[i]->kv, star_i ? "*" : "?");
            if (rest[i + 1])
                buf_printf(&r, " %s", rest[i + 1]);
            char *base = join_name(name, opt[i - 1]->name);
            char *rname = xstrdup(base);
            free(base);
            base = join_name(rname, "rest");
            free(rname);
            /* llama.cpp names the rule after the property before it: "<name>-<k>-rest". */
            rest[i] = conv_add_rule(c, base, r.data);
            free(base);
            buf_free(&r);
        }
        for (size_t i = 0; i < n_opt && !c->failed; i++) {
            if (i)
                buf_puts(&b, " | ");
            buf_puts(&b, opt[i]->kv);
            if (opt[i] == &star)
                buf_printf(&b, " ( \",\" %sspace %s )*", c->prefix, opt[i]->kv);
            if (rest[i + 1])
                buf_printf(&b, " %s", rest[i + 1]);
        }
        for (size_t i = 0; i <= n_opt; i++)
            free(rest[i]);
        free(rest);
        if (n_req)
            buf_puts(&b, " )");
        buf_puts(&b, " )?");
    }
    buf_printf(&b, " %sspace \"}\"", c->prefix);
    free(opt);
    if (c->failed) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static void props_free(struct prop *props, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(props[i].kv);
    free(props);
}

/* Adds the kv rule of one property to props. */
static int add_prop(struct conv *c, struct walk *w, struct prop **props, size_t *n,
                    const char *pname, json_t *pschema, int required, const char *name,
                    const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*props)[i].name, pname)) {
            (*props)[i].required |= required;
            return 0; /* allOf parts naming one property twice: the first schema stays */
        }
    char *ppath = sub_path(path, "properties");
    char *pp = sub_path(ppath, pname);
    free(ppath);
    /* An empty property name would name the rule like the root (llama.cpp's grammar for
     * {"properties": {"": ...}} starts from the wrong rule): give it a name. */
    char *vname = join_name(name, *pname ? pname : "empty-name");
    char *value = visit(c, w, pschema, vname, pp);
    free(pp);
    if (!value) {
        free(vname);
        return -1;
    }
    struct buf b;
    buf_init(&b, 0);
    json_t *js = json_string(pname);
    char *key = js ? json_dumps(js, JSON_ENCODE_ANY) : NULL;
    json_decref(js);
    if (!key) {
        free(vname);
        free(value);
        buf_free(&b);
        return conv_fail(c, ERR_BAD_REQUEST, "a property name at %s is not valid UTF-8", path);
    }
    conv_literal(&b, key, strlen(key));
    free(key);
    buf_printf(&b, " %sspace \":\" %sspace %s", c->prefix, c->prefix, value);
    char *kvname = join_name(vname, "kv");
    char *kv = conv_add_rule(c, kvname, b.data);
    free(kvname);
    free(vname);
    free(value);
    buf_free(&b);
    if (!kv)
        return -1;
    *props = xrealloc(*props, (*n + 1) * sizeof **props);
    (*props)[*n] = (struct prop){pname, kv, required};
    (*n)++;
    return 0;
}

static int get_required(struct conv *c, json_t *s, const char *path, json_t **out)
{
    json_t *req = json_object_get(s, "required");
    *out = NULL;
    if (!req)
        return 0;
    size_t i;
    json_t *v;
    if (!json_is_array(req))
        return conv_fail(c, ERR_BAD_REQUEST, "required at %s must be an array of names", path);
    json_array_foreach(req, i, v) if (!json_is_string(v)) return conv_fail(
        c, ERR_BAD_REQUEST, "required at %s must be an array of names", path);
    *out = req;
    return 0;
}

static int is_required(json_t *req, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v) if (!strcmp(json_string_value(v), name)) return 1;
    return 0;
}

static char *visit_object(struct conv *c, struct walk *w, json_t *s, const char *name,
                          const char *rule_name, const char *path, uint32_t *used)
{
    *used |= BIT(KW_PROPERTIES) | BIT(KW_REQUIRED) | BIT(KW_ADDITIONAL);
    json_t *properties = json_object_get(s, "properties"), *req;
    json_t *additional = json_object_get(s, "additionalProperties");
    if (properties && !json_is_object(properties)) {
        conv_fail(c, ERR_BAD_REQUEST, "properties at %s must be an object", path);
        return NULL;
    }
    if (additional && !json_is_boolean(additional) && !json_is_object(additional)) {
        conv_fail(c, ERR_BAD_REQUEST, "additionalProperties at %s must be a boolean or a schema",
                  path);
        return NULL;
    }
    if (get_required(c, s, path, &req))
        return NULL;
    /* llama.cpp's convention: listed properties close the object unless additionalProperties
     * opens it; {"type": "object"} alone is any object. */
    int any_extra = additional ? json_is_true(additional) || !json_object_size(additional)
                               : !properties;
    int extra = additional ? !json_is_false(additional) : !properties;
    if (!json_object_size(properties) && extra && any_extra) {
        if (req && json_array_size(req)) {
            conv_fail(c, ERR_BAD_REQUEST, "required at %s names properties that are not defined",
                      path);
            return NULL;
        }
        char *p = conv_prim(c, "object");
        char *r = p ? conv_add_rule(c, rule_name, p) : NULL;
        free(p);
        return r;
    }
    struct prop *props = NULL;
    size_t n = 0;
    const char *pname;
    json_t *pschema;
    json_object_foreach(properties, pname, pschema)
    {
        if (add_prop(c, w, &props, &n, pname, pschema, is_required(req, pname), name, path)) {
            props_free(props, n);
            return NULL;
        }
    }
    size_t i;
    json_t *v;
    json_array_foreach(req, i, v)
    {
        if (!json_object_get(properties, json_string_value(v))) {
            props_free(props, n);
            conv_fail(c, ERR_BAD_REQUEST,
                      "required names '%.64s' at %s, which properties does not define",
                      json_string_value(v), path);
            return NULL;
        }
    }
    char *extra_kv = NULL;
    if (extra) {
        char *sub = join_name(name, "additional");
        char *value;
        if (any_extra) {
            value = conv_prim(c, "value");
        } else {
            char *vname = join_name(sub, "value");
            char *apath = sub_path(path, "additionalProperties");
            value = visit(c, w, additional, vname, apath);
            free(vname);
            free(apath);
        }
        char *key = NULL;
        if (value && !n) {
            key = conv_prim(c, "string");
        } else if (value) {
            char *body = not_strings(c, props, n, path);
            char *kname = join_name(sub, "k");
            key = body ? conv_add_rule(c, kname, body) : NULL;
            free(kname);
            free(body);
        }
        if (key) {
            struct buf b;
            buf_init(&b, 0);
            buf_printf(&b, "%s \":\" %sspace %s", key, c->prefix, value);
            char *kvname = join_name(sub, "kv");
            extra_kv = conv_add_rule(c, kvname, b.data);
            free(kvname);
            buf_free(&b);
        }
        free(key);
        free(value);
        free(sub);
        if (!extra_kv) {
            props_free(props, n);
            return NULL;
        }
    }
    char *body = object_body(c, props, n, extra_kv, name);
    char *r = body ? conv_add_rule(c, rule_name, body) : NULL;
    free(body);
    free(extra_kv);
    props_free(props, n);
    return r;
}

static char *visit_array(struct conv *c, struct walk *w, json_t *s, const char *name,
                         const char *rule_name, const char *path, uint32_t *used)
{
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    *used |= BIT(KW_ITEMS) | BIT(KW_PREFIX_ITEMS);
    if (prefix && !items && (json_is_object(prefix) || json_is_boolean(prefix))) {
        items = prefix; /* llama.cpp reads a schema in prefixItems as the item schema */
        prefix = NULL;
    }
    json_t *tuple = json_is_array(prefix) ? prefix : json_is_array(items) ? items : NULL;
    if (prefix && !json_is_array(prefix)) {
        conv_fail(c, ERR_BAD_REQUEST, "prefixItems at %s must be an array of schemas", path);
        return NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "\"[\" %sspace ", c->prefix);
    if (tuple) {
        /* A tuple: exactly these items (llama.cpp's reading of prefixItems), or these and then
         * any number of `items` when items is a schema beside prefixItems. */
        const char *key = tuple == prefix ? "prefixItems" : "items";
        size_t i;
        json_t *it;
        json_array_foreach(tuple, i, it)
        {
            char tn[32];
            snprintf(tn, sizeof tn, "tuple-%zu", i);
            char *iname = join_name(name, tn);
            char *ipath = sub_path_i(path, key, i);
            char *r = visit(c, w, it, iname, ipath);
            free(iname);
            free(ipath);
            if (!r)
                break;
            if (i)
                buf_printf(&b, " \",\" %sspace ", c->prefix);
            buf_puts(&b, r);
            free(r);
        }
        if (!c->failed && tuple == prefix && items && !json_is_false(items)) {
            char *iname = join_name(name, "item");
            char *ipath = sub_path(path, "items");
            char *r = visit(c, w, items, iname, ipath);
            if (r)
                buf_printf(&b, " ( \",\" %sspace %s )*", c->prefix, r);
            free(r);
            free(iname);
            free(ipath);
        }
    } else {
        int64_t min = 0, max = -1;
        *used |= BIT(KW_MIN_ITEMS) | BIT(KW_MAX_ITEMS);
        if (!get_count(c, s, "minItems", path, &min) && !get_count(c, s, "maxItems", path, &max) &&
            max >= 0 && min > max)
            conv_fail(c, ERR_BAD_REQUEST, "minItems is above maxItems at %s", path);
        if (c->failed) {
            buf_free(&b);
            return NULL;
        }
        if ((!items || json_is_true(items) || !json_object_size(items)) && min == 0 && max < 0) {
            buf_free(&b);
            if (items && !json_is_boolean(items) && !json_is_object(items)) {
                conv_fail(c, ERR_BAD_REQUEST, "items at %s must be a schema", path);
                return NULL;
            }
            return add_prim_as(c, !strcmp(rule_name, "root") ? "root" : "array",
                               prim_find("array"));
        }
        char *iname = join_name(name, "item");
        char *ipath = sub_path(path, "items");
        char *r = items ? visit(c, w, items, iname, ipath) : conv_prim(c, "value");
        free(iname);
        free(ipath);
        if (r) {
            char sep[64];
            snprintf(sep, sizeof sep, "\",\" %sspace", c->prefix);
            repetition(&b, r, min, max, sep);
        }
        free(r);
    }
    buf_printf(&b, " %sspace \"]\"", c->prefix);
    char *r = c->failed ? NULL : conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

/* Follows $ref from s (a schema whose only keyword is $ref) to its target; NULL after
 * conv_fail. */
static json_t *follow_refs(struct conv *c, struct walk *w, json_t *s, const char *path)
{
    for (int hops = 0; json_is_object(s) && json_object_get(s, "$ref"); hops++) {
        const char *ref = json_string_value(json_object_get(s, "$ref"));
        json_t *t = ref && hops < SCHEMA_MAX_DEPTH ? resolve_pointer(w->root, ref) : NULL;
        if (check_keys(c, s, BIT(KW_REF), path))
            return NULL;
        if (!t) {
            conv_fail(c, ERR_BAD_REQUEST, "$ref at %s cannot be resolved", path);
            return NULL;
        }
        s = t;
    }
    return s;
}

/* allOf: the properties of every part (llama.cpp's reading), or the values every enum part
 * shares. */
static char *visit_all_of(struct conv *c, struct walk *w, json_t *s, const char *name,
                          const char *rule_name, const char *path)
{
    json_t *parts = json_object_get(s, "allOf");
    char *apath = sub_path(path, "allOf");
    if (!json_is_array(parts) || !json_array_size(parts)) {
        conv_fail(c, ERR_BAD_REQUEST, "allOf at %s must be a non-empty array of schemas", path);
        free(apath);
        return NULL;
    }
    struct prop *props = NULL;
    size_t n = 0, n_enum = 0, i;
    json_t *part, *enum_first = NULL, *resolved = json_array();
    json_array_foreach(parts, i, part)
    {
        char *ppath = sub_path_i(path, "allOf", i);
        part = follow_refs(c, w, part, ppath);
        if (part)
            json_array_append(resolved, part);
        if (!c->failed && !json_is_object(part))
            conv_fail(c, ERR_BAD_REQUEST, "allOf at %s holds something that is not a schema",
                      apath);
        json_t *alts = json_object_get(part, "anyOf");
        if (c->failed) {
        } else if (json_object_get(part, "enum")) {
            n_enum++;
            if (!enum_first)
                enum_first = json_object_get(part, "enum");
            check_keys(c, part, BIT(KW_ENUM) | BIT(KW_TYPE), ppath);
        } else if (json_is_array(alts)) {
            /* a choice among objects: each one's properties become optional */
            size_t k;
            json_t *alt;
            check_keys(c, part, BIT(KW_ANY_OF), ppath);
            json_array_foreach(alts, k, alt)
            {
                char *kpath = sub_path_i(ppath, "anyOf", k);
                alt = follow_refs(c, w, alt, kpath);
                json_t *props_k = json_object_get(alt, "properties");
                const char *pn;
                json_t *ps;
                if (c->failed || !json_is_object(props_k) ||
                    check_keys(c, alt, BIT(KW_TYPE) | BIT(KW_PROPERTIES) | BIT(KW_REQUIRED), kpath))
                    conv_fail(c, ERR_BAD_REQUEST,
                              "allOf at %s: only objects with properties are supported in anyOf",
                              kpath);
                json_object_foreach(props_k, pn, ps)
                {
                    if (c->failed || add_prop(c, w, &props, &n, pn, ps, 0, name, kpath))
                        break;
                }
                free(kpath);
                if (c->failed)
                    break;
            }
        } else if (json_is_object(json_object_get(part, "properties"))) {
            json_t *req;
            const char *pn;
            json_t *ps;
            uint32_t ok = BIT(KW_TYPE) | BIT(KW_PROPERTIES) | BIT(KW_REQUIRED);
            if (json_is_false(json_object_get(part, "additionalProperties")))
                ok |= BIT(KW_ADDITIONAL);
            if (!check_keys(c, part, ok, ppath) && !get_required(c, part, ppath, &req)) {
                json_object_foreach(json_object_get(part, "properties"), pn, ps)
                {
                    if (add_prop(c, w, &props, &n, pn, ps, is_required(req, pn), name, ppath))
                        break;
                }
            }
        } else {
            conv_fail(c, ERR_BAD_REQUEST,
                      "allOf at %s: only objects with properties, choices among them and enums "
                      "can be combined",
                      ppath);
        }
        free(ppath);
        if (c->failed)
            break;
    }
    char *r = NULL;
    if (!c->failed && n_enum && n_enum != json_array_size(parts)) {
        conv_fail(c, ERR_BAD_REQUEST, "allOf at %s mixes enums with objects", apath);
    } else if (!c->failed && n_enum) {
        struct buf b;
        buf_init(&b, 0);
        json_t *v;
        size_t k, shared = 0;
        json_array_foreach(enum_first, k, v)
        {
            int everywhere = 1;
            json_array_foreach(resolved, i, part)
            {
                json_t *vals = json_object_get(part, "enum");
                size_t m;
                json_t *x;
                int found = 0;
                json_array_foreach(vals, m, x) found |= json_equal(x, v);
                everywhere &= found;
            }
            if (everywhere) {
                buf_puts(&b, shared++ ? " | " : "(");
                const_literal(c, &b, v, apath);
            }
        }
        if (!shared)
            conv_fail(c, ERR_BAD_REQUEST, "the enums of allOf at %s share no value", path);
        else {
            buf_puts(&b, ")");
            r = conv_add_rule(c, rule_name, b.data);
        }
        buf_free(&b);
    } else if (!c->failed) {
        char *body = object_body(c, props, n, NULL, name);
        r = body ? conv_add_rule(c, rule_name, body) : NULL;
        free(body);
    }
    props_free(props, n);
    free(apath);
    json_decref(resolved);
    return r;
}

/* ---- the walk ---- */

static char *visit_node(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *path, uint32_t *used, int no_null);

static char *union_rule(struct conv *c, const char *rule_name, char **alts, size_t n)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < n; i++)
        buf_printf(&b, "%s%s", i ? " | " : "", alts[i]);
    char *r = conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

static char *alt_name(const char *name, size_t i)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s%s%zu", name, *name ? "-" : "alternative-", i);
    return buf_steal(&b);
}

/* The JSON types a schema can produce, as bits (null, boolean, number, string, array,
 * object), read the way visit_typed reads a schema; all of them when unsure. */
static unsigned types_of(struct walk *w, json_t *s, int depth)
{
    static const char *const names[] = {"null", "boolean", "number", "string", "array", "object"};
    if (!json_is_object(s) || depth > 16)
        return 63;
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        json_t *t = json_is_string(ref) ? resolve_pointer(w->root, json_string_value(ref)) : NULL;
        return t ? types_of(w, t, depth + 1) : 63;
    }
    json_t *alts = json_object_get(s, "anyOf");
    if (!alts)
        alts = json_object_get(s, "oneOf");
    if (json_is_array(alts)) {
        unsigned m = 0;
        size_t i;
        json_t *a;
        json_array_foreach(alts, i, a) m |= types_of(w, a, depth + 1);
        return m;
    }
    json_t *type = json_object_get(s, "type");
    if (json_is_string(type) || json_is_array(type)) {
        unsigned m = 0;
        for (size_t k = 0; k < 6; k++) {
            const char *t = json_string_value(type);
            size_t i;
            json_t *v;
            if (t && (!strcmp(t, names[k]) || (k == 2 && !strcmp(t, "integer"))))
                m |= 1u << k;
            json_array_foreach(type, i, v)
            {
                t = json_string_value(v);
                if (t && (!strcmp(t, names[k]) || (k == 2 && !strcmp(t, "integer"))))
                    m |= 1u << k;
            }
        }
        if (json_is_true(json_object_get(s, "nullable")))
            m |= 1;
        return m;
    }
    if (json_object_get(s, "properties") || json_object_get(s, "additionalProperties") ||
        json_object_get(s, "allOf"))
        return 32;
    if (json_object_get(s, "items") || json_object_get(s, "prefixItems"))
        return 16;
    if (json_object_get(s, "pattern") || json_object_get(s, "format") ||
        json_object_get(s, "minLength") || json_object_get(s, "maxLength"))
        return 8;
    return 63;
}

static char *visit_any_of(struct conv *c, struct walk *w, json_t *alts, const char *key,
                          const char *name, const char *rule_name, const char *path)
{
    if (!json_is_array(alts) || !json_array_size(alts)) {
        conv_fail(c, ERR_BAD_REQUEST, "%s at %s must be a non-empty array of schemas", key, path);
        return NULL;
    }
    size_t n = json_array_size(alts), i;
    char **rules = xcalloc(n, sizeof *rules);
    json_t *alt;
    json_array_foreach(alts, i, alt)
    {
        char *an = alt_name(name, i), *ap = sub_path_i(path, key, i);
        rules[i] = visit(c, w, alt, an, ap);
        free(an);
        free(ap);
        if (!rules[i])
            break;
    }
    char *r = c->failed ? NULL : union_rule(c, rule_name, rules, n);
    for (i = 0; i < n; i++)
        free(rules[i]);
    free(rules);
    return r;
}

static char *visit_types(struct conv *c, struct walk *w, json_t *s, json_t *types,
                         const char *name, const char *rule_name, const char *path,
                         uint32_t *used)
{
    size_t n = json_array_size(types), i;
    if (!n) {
        conv_fail(c, ERR_BAD_REQUEST, "type at %s must not be empty", path);
        return NULL;
    }
    char **rules = xcalloc(n, sizeof *rules);
    json_t *t;
    json_array_foreach(types, i, t)
    {
        /* {"type": ["a", "b"], ...} is {"anyOf": [{"type": "a", ...}, {"type": "b", ...}]};
         * a keyword that one of the types uses is used. */
        json_t *copy = json_copy(s);
        json_object_set(copy, "type", t);
        char *an = alt_name(name, i), *tp = sub_path_i(path, "type", i);
        uint32_t u = 0;
        rules[i] = visit_node(c, w, copy, an, tp, &u, 1);
        *used |= u;
        free(an);
        free(tp);
        json_decref(copy);
        if (!rules[i])
            break;
    }
    char *r = c->failed ? NULL : union_rule(c, rule_name, rules, n);
    for (i = 0; i < n; i++)
        free(rules[i]);
    free(rules);
    return r;
}

static char *prim_rule(struct conv *c, const char *rule_name, const char *type)
{
    return add_prim_as(c, !strcmp(rule_name, "root") ? "root" : type, prim_find(type));
}

static char *visit_typed(struct conv *c, struct walk *w, json_t *s, const char *name,
                         const char *rule_name, const char *path, uint32_t *used)
{
    json_t *type = json_object_get(s, "type");
    if (json_is_array(type))
        return visit_types(c, w, s, type, name, rule_name, path, used);
    *used |= BIT(KW_TYPE);
    if (json_object_get(s, "const")) {
        *used |= BIT(KW_CONST);
        struct buf b;
        buf_init(&b, 0);
        char *r = const_literal(c, &b, json_object_get(s, "const"), path)
                      ? NULL
                      : conv_add_rule(c, rule_name, b.data);
        buf_free(&b);
        return r;
    }
    if (json_object_get(s, "enum")) {
        *used |= BIT(KW_ENUM);
        return visit_enum(c, json_object_get(s, "enum"), rule_name, path);
    }
    if (type && !json_is_string(type)) {
        conv_fail(c, ERR_BAD_REQUEST, "type at %s must be a string or an array of strings", path);
        return NULL;
    }
    const char *t = type ? json_string_value(type) : "";
    json_t *additional = json_object_get(s, "additionalProperties");
    int has_props = json_object_get(s, "properties") || (additional && !json_is_true(additional));
    int has_all_of = json_object_get(s, "allOf") != NULL;
    if (!*t) {
        /* Without a type the structural keywords decide, in llama.cpp's order. */
        if (has_props)
            return visit_object(c, w, s, name, rule_name, path, used);
        if (has_all_of) {
            *used |= BIT(KW_ALL_OF);
            return visit_all_of(c, w, s, name, rule_name, path);
        }
        if (json_object_get(s, "items") || json_object_get(s, "prefixItems"))
            return visit_array(c, w, s, name, rule_name, path, used);
        if (json_object_get(s, "pattern") || json_object_get(s, "minLength") ||
            json_object_get(s, "maxLength") || json_object_get(s, "format"))
            return visit_string(c, s, rule_name, path, used);
        if (additional)
            *used |= BIT(KW_ADDITIONAL); /* additionalProperties: true alone */
        char *v = conv_prim(c, "value");
        char *r = v ? conv_add_rule(c, rule_name, v) : NULL;
        free(v);
        return r;
    }
    if (!strcmp(t, "object")) {
        if (!has_props && has_all_of) {
            *used |= BIT(KW_ALL_OF);
            return visit_all_of(c, w, s, name, rule_name, path);
        }
        return visit_object(c, w, s, name, rule_name, path, used);
    }
    if (!strcmp(t, "string")) {
        if (has_all_of) {
            *used |= BIT(KW_ALL_OF);
            return visit_all_of(c, w, s, name, rule_name, path);
        }
        return visit_string(c, s, rule_name, path, used);
    }
    if (!strcmp(t, "array"))
        return visit_array(c, w, s, name, rule_name, path, used);
    if (!strcmp(t, "integer"))
        return visit_integer(c, s, rule_name, path, used);
    if (!strcmp(t, "number") || !strcmp(t, "boolean") || !strcmp(t, "null"))
        return prim_rule(c, rule_name, t);
    conv_fail(c, ERR_BAD_REQUEST, "unknown type '%.32s' at %s", t, path);
    return NULL;
}

static char *visit_node(struct conv *c, struct walk *w, json_t *s, const char *name,
                        const char *path, uint32_t *used, int no_null)
{
    /* a rule named like a built-in gets a dash: {"properties": {"number": ...}} */
    char *rule_name = is_reserved(name) ? join_name(name, "") : xstrdup(*name ? name : "root");
    char *r = NULL;
    json_t *nullable = json_is_object(s) ? json_object_get(s, "nullable") : NULL;
    if (json_is_true(s)) {
        char *v = conv_prim(c, "value");
        r = v ? conv_add_rule(c, rule_name, v) : NULL;
        free(v);
    } else if (json_is_false(s)) {
        conv_fail(c, ERR_BAD_REQUEST, "the schema at %s is false: nothing matches it", path);
    } else if (!json_is_object(s)) {
        conv_fail(c, ERR_BAD_REQUEST, "the schema at %s must be an object or a boolean", path);
    } else if (nullable && !json_is_boolean(nullable)) {
        conv_fail(c, ERR_BAD_REQUEST, "nullable at %s must be a boolean", path);
    } else if (json_is_true(nullable) && !no_null) {
        /* OpenAPI's nullable: the schema or null. */
        *used |= BIT(KW_NULLABLE);
        char *inner_name = join_name(name, "nonnull");
        char *alts[2] = {visit_node(c, w, s, inner_name, path, used, 1), NULL};
        alts[1] = alts[0] ? conv_prim(c, "null") : NULL;
        r = alts[1] ? union_rule(c, rule_name, alts, 2) : NULL;
        free(alts[0]);
        free(alts[1]);
        free(inner_name);
    } else {
        if (nullable)
            *used |= BIT(KW_NULLABLE);
        json_t *any_of = json_object_get(s, "anyOf"), *one_of = json_object_get(s, "oneOf");
        if (json_object_get(s, "$ref")) {
            *used |= BIT(KW_REF);
            r = visit_ref(c, w, json_object_get(s, "$ref"), rule_name, path);
        } else if (any_of && one_of) {
            conv_fail(c, ERR_BAD_REQUEST, "anyOf and oneOf together at %s are not supported",
                      path);
        } else if (any_of || one_of) {
            /* oneOf is read as anyOf, as llama.cpp does: the grammar cannot exclude a value
             * that two alternatives both match. */
            *used |= BIT(any_of ? KW_ANY_OF : KW_ONE_OF);
            /* A type beside the choice (llama.cpp ignores it) is accepted where every
             * alternative already has that type, so that it constrains nothing. */
            json_t *type = json_object_get(s, "type");
            if (type) {
                json_t *bare = json_object();
                json_object_set(bare, "type", type);
                unsigned allowed = types_of(w, bare, 0);
                json_decref(bare);
                if ((types_of(w, s, 0) & ~allowed) == 0)
                    *used |= BIT(KW_TYPE);
            }
            r = visit_any_of(c, w, any_of ? any_of : one_of, any_of ? "anyOf" : "oneOf", name,
                             rule_name, path);
        } else {
            r = visit_typed(c, w, s, name, rule_name, path, used);
        }
    }
    free(rule_name);
    if (c->failed) {
        free(r);
        return NULL;
    }
    return r;
}

static char *visit(struct conv *c, struct walk *w, json_t *s, const char *name, const char *path)
{
    if (c->failed)
        return NULL;
    if (c->depth >= SCHEMA_MAX_DEPTH) {
        conv_fail(c, ERR_TOO_LARGE, "schemas nested more than %d deep at %s", SCHEMA_MAX_DEPTH,
                  path);
        return NULL;
    }
    c->depth++;
    uint32_t used = 0;
    char *r = visit_node(c, w, s, name, path, &used, 0);
    c->depth--;
    if (r && json_is_object(s) && check_keys(c, s, used, path)) {
        free(r);
        return NULL;
    }
    return r;
}

static int rule_cmp(const void *a, const void *b)
{
    return strcmp(((const struct conv_rule *)a)->name, ((const struct conv_rule *)b)->name);
}

int grammar_from_schema(json_t *schema, const char *prefix, char **out, struct err *e)
{
    struct err local;
    if (!e)
        e = &local;
    *out = NULL;
    if (!prefix)
        prefix = "";
    for (const char *p = prefix; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-') ||
            p - prefix > 64)
            return err_set(e, ERR_BAD_REQUEST, "grammar rule prefix '%.64s' is not a GBNF name",
                           prefix);
    if (!schema)
        return err_set(e, ERR_BAD_REQUEST, "JSON schema: none given");
    struct conv c = {.prefix = prefix, .e = e};
    struct walk w = {.root = schema};
    free(conv_prim(&c, "space"));
    char *root = visit(&c, &w, schema, "", "#");
    free(root);
    free(w.resolving);
    int rc = 0;
    if (c.failed) {
        rc = e->code;
    } else {
        qsort(c.rules, c.n_rules, sizeof *c.rules, rule_cmp);
        struct buf b;
        buf_init(&b, 0);
        for (uint32_t i = 0; i < c.n_rules; i++)
            buf_printf(&b, "%s ::= %s\n", c.rules[i].name, c.rules[i].body);
        char *text = buf_steal(&b);
        char start[80];
        snprintf(start, sizeof start, "%sroot", prefix);
        struct err ge;
        rc = gbnf_parse(text, start, NULL, &ge);
        if (rc) {
            err_set(e, rc,
                    "JSON schema: the grammar it converts to is not usable (%s); a $ref cycle "
                    "that can repeat without reading anything, or limits on repetitions, cause "
                    "this",
                    ge.msg);
            free(text);
        } else {
            *out = text;
        }
    }
    for (uint32_t i = 0; i < c.n_rules; i++) {
        free(c.rules[i].name);
        free(c.rules[i].body);
    }
    free(c.rules);
    return rc;
}
