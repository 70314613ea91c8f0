/* JSON schema → GBNF (schema.h): the rule table, the built-in rules, keywords and names
 * (schema_rules.c), objects, arrays and allOf (schema_object.c), patterns (schema_pattern.c), and
 * here the walk over the schema, integers, strings, enums and $ref. The shape of the output, the
 * rule names and the built-in rules follow llama.cpp's common/json-schema-to-grammar.cpp; the
 * keyword checks and the limits are hearth's. */
#include "grammar/schema.h"
#include "base/buf.h"
#include "base/util.h"
#include "grammar/gbnf.h"
#include "grammar/schema_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    *out = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)(up ? ceil(d) : floor(d));
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
        return conv_prim_as(c, !strcmp(rule_name, "root") ? "root" : "integer", "integer");
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
            return conv_prim_as(c, !strcmp(rule_name, "root") ? "root" : "uuid", "uuid");
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
    if (conv_get_count(c, s, "minLength", path, &min) ||
        conv_get_count(c, s, "maxLength", path, &max))
        return NULL;
    if (max >= 0 && min > max) {
        conv_fail(c, ERR_BAD_REQUEST, "minLength is above maxLength at %s", path);
        return NULL;
    }
    if (min == 0 && max < 0)
        return conv_prim_as(c, !strcmp(rule_name, "root") ? "root" : "string", "string");
    char *ch = conv_prim(c, "char");
    if (!ch)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "\"\\\"\" ");
    conv_repetition(&b, ch, min, max, NULL);
    buf_puts(&b, " \"\\\"\"");
    char *r = conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    free(ch);
    return r;
}

/* ---- enum and const ---- */

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
        if (conv_const_literal(c, &b, v, path))
            break;
    }
    buf_puts(&b, ")");
    char *r = c->failed ? NULL : conv_add_rule(c, rule_name, b.data);
    buf_free(&b);
    return r;
}

/* ---- $ref ---- */

static char *visit_ref(struct conv *c, struct walk *w, json_t *ref, const char *rule_name,
                       const char *path)
{
    const char *r = json_string_value(ref);
    if (!r) {
        conv_fail(c, ERR_BAD_REQUEST, "$ref at %s must be a string", path);
        return NULL;
    }
    json_t *target = conv_resolve_pointer(w->root, r);
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
    char *name = conv_full_name(c, base, NULL);
    int known = conv_find_rule(c, name) != NULL, busy = 0;
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
        out = conv_visit(c, w, target, base, r);
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
        json_t *t =
            json_is_string(ref) ? conv_resolve_pointer(w->root, json_string_value(ref)) : NULL;
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
        char *an = alt_name(name, i), *ap = conv_sub_path_i(path, key, i);
        rules[i] = conv_visit(c, w, alt, an, ap);
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

static char *visit_types(struct conv *c, struct walk *w, json_t *s, json_t *types, const char *name,
                         const char *rule_name, const char *path, uint32_t *used)
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
        char *an = alt_name(name, i), *tp = conv_sub_path_i(path, "type", i);
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
    return conv_prim_as(c, !strcmp(rule_name, "root") ? "root" : type, type);
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
        char *r = conv_const_literal(c, &b, json_object_get(s, "const"), path)
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
            return conv_visit_object(c, w, s, name, rule_name, path, used);
        if (has_all_of) {
            *used |= BIT(KW_ALL_OF);
            return conv_visit_all_of(c, w, s, name, rule_name, path);
        }
        if (json_object_get(s, "items") || json_object_get(s, "prefixItems"))
            return conv_visit_array(c, w, s, name, rule_name, path, used);
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
            return conv_visit_all_of(c, w, s, name, rule_name, path);
        }
        return conv_visit_object(c, w, s, name, rule_name, path, used);
    }
    if (!strcmp(t, "string")) {
        if (has_all_of) {
            *used |= BIT(KW_ALL_OF);
            return conv_visit_all_of(c, w, s, name, rule_name, path);
        }
        return visit_string(c, s, rule_name, path, used);
    }
    if (!strcmp(t, "array"))
        return conv_visit_array(c, w, s, name, rule_name, path, used);
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
    char *rule_name =
        conv_is_reserved(name) ? conv_join_name(name, "") : xstrdup(*name ? name : "root");
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
        char *inner_name = conv_join_name(name, "nonnull");
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
            conv_fail(c, ERR_BAD_REQUEST, "anyOf and oneOf together at %s are not supported", path);
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

char *conv_visit(struct conv *c, struct walk *w, json_t *s, const char *name, const char *path)
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
    if (r && json_is_object(s) && conv_check_keys(c, s, used, path)) {
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
    char *root = conv_visit(&c, &w, schema, "", "#");
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
