/* A small JSON schema validator for the tests, covering the keywords hearth's converter supports
 * (src/grammar/schema.h) with the same readings: properties close an object unless
 * additionalProperties opens it, prefixItems is an exact tuple, oneOf is read as anyOf, an allOf
 * of objects merges their properties. Patterns run through POSIX regex after a translation of
 * the ECMA syntax the converter accepts; call setlocale(LC_CTYPE, "C.UTF-8") first. Formats are
 * checked as the grammar defines them (date does not check month lengths).
 *
 * jv_valid(instance, schema, root) returns 1 when instance is valid. */
#ifndef HEARTH_TESTS_JSON_VALIDATE_H
#define HEARTH_TESTS_JSON_VALIDATE_H

#include "base/buf.h"
#include "base/util.h"

#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

static inline json_t *jv_pointer(json_t *root, const char *ref)
{
    if (ref[0] != '#')
        return NULL;
    json_t *t = root;
    const char *s = ref + 1;
    while (*s == '/' && t) {
        s++;
        size_t n = strcspn(s, "/");
        char tok[256];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof tok; i++) {
            if (s[i] == '~' && i + 1 < n) {
                tok[k++] = s[i + 1] == '0' ? '~' : '/';
                i++;
            } else {
                tok[k++] = s[i];
            }
        }
        tok[k] = 0;
        t = json_is_array(t) ? json_array_get(t, strtoul(tok, NULL, 10)) : json_object_get(t, tok);
        s += n;
    }
    return t;
}

/* ECMA's \\s beyond ASCII (as the converter reads it): U+00A0, U+2028, U+2029, U+FEFF. */
#define JV_WIDE_SPACE "\u00a0\u2028\u2029\ufeff"

/* \xHH or \uHHHH at p (after the backslash) as UTF-8 in b; the characters read, or 0. */
static inline size_t jv_hex(const char *p, struct buf *b)
{
    size_t n = p[0] == 'x' ? 2 : p[0] == 'u' ? 4 : 0;
    unsigned cp = 0;
    for (size_t i = 1; n && i <= n; i++) {
        char h = p[i];
        int d = (h >= '0' && h <= '9')   ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0)
            return 0;
        cp = cp << 4 | (unsigned)d;
    }
    if (!n)
        return 0;
    char o[4];
    size_t k;
    if (cp < 0x80) {
        o[0] = (char)cp;
        k = 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        k = 2;
    } else {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        k = 3;
    }
    buf_append(b, o, k);
    return n;
}

/* ECMA regex (the subset the converter accepts) → POSIX ERE. */
static inline char *jv_ere(const char *p)
{
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; p[i]; i++) {
        char c = p[i];
        if (c == '(' && p[i + 1] == '?' && p[i + 2] == ':') {
            buf_puts(&b, "(");
            i += 2;
        } else if (c == '.') {
            buf_puts(&b, "[^\n\r]");
        } else if (c == '\\' && p[i + 1]) {
            char e = p[++i];
            switch (e) {
            case 'd': buf_puts(&b, "[0-9]"); break;
            case 'D': buf_puts(&b, "[^0-9]"); break;
            case 'w': buf_puts(&b, "[0-9A-Za-z_]"); break;
            case 'W': buf_puts(&b, "[^0-9A-Za-z_]"); break;
            case 's': buf_puts(&b, "[ \t\n\r\f\v" JV_WIDE_SPACE "]"); break;
            case 'S': buf_puts(&b, "[^ \t\n\r\f\v" JV_WIDE_SPACE "]"); break;
            case 't': buf_puts(&b, "\t"); break;
            case 'n': buf_puts(&b, "\n"); break;
            case 'r': buf_puts(&b, "\r"); break;
            case 'x':
            case 'u': {
                struct buf one;
                buf_init(&one, 0);
                i += jv_hex(p + i, &one);
                if (one.len == 1 && strchr("^$.[]()|*+?{}\\", one.data[0]))
                    buf_puts(&b, "\\");
                buf_append(&b, one.data, one.len);
                buf_free(&one);
                break;
            }
            default: buf_printf(&b, "\\%c", e);
            }
        } else if (c == '[') {
            /* rebuild the class: ']' first, '-' last, escapes resolved */
            struct buf body;
            buf_init(&body, 0);
            int neg = 0, close = 0, dash = 0;
            i++;
            if (p[i] == '^') {
                neg = 1;
                i++;
            }
            for (; p[i] && p[i] != ']'; i++) {
                char d = p[i];
                if (d == '\\' && p[i + 1]) {
                    char e = p[++i];
                    if (e == 'd')
                        buf_puts(&body, "0-9");
                    else if (e == 'w')
                        buf_puts(&body, "0-9A-Za-z_");
                    else if (e == 's')
                        buf_puts(&body, " \t\n\r\f\v" JV_WIDE_SPACE);
                    else if (e == 't')
                        buf_puts(&body, "\t");
                    else if (e == 'n')
                        buf_puts(&body, "\n");
                    else if (e == 'r')
                        buf_puts(&body, "\r");
                    else if (e == 'x' || e == 'u')
                        i += jv_hex(p + i, &body);
                    else if (e == ']')
                        close = 1;
                    else if (e == '-')
                        dash = 1;
                    else
                        buf_append(&body, &e, 1);
                } else {
                    buf_append(&body, &d, 1);
                }
            }
            buf_printf(&b, "[%s%s%s%s]", neg ? "^" : "", close ? "]" : "",
                       body.data ? body.data : "", dash ? "-" : "");
            buf_free(&body);
        } else {
            buf_append(&b, &c, 1);
        }
    }
    return buf_steal(&b);
}

/* text holds n bytes and may hold NULs, which POSIX regex cannot see: they are matched as
 * U+0001, another control character. */
static inline int jv_regex(const char *pattern, const char *text, size_t n)
{
    char *ere = jv_ere(pattern);
    char *copy = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        copy[i] = text[i] ? text[i] : 1;
    copy[n] = 0;
    regex_t re;
    int ok = 0;
    if (!regcomp(&re, ere, REG_EXTENDED | REG_NOSUB)) {
        ok = regexec(&re, copy, 0, NULL, 0) == 0;
        regfree(&re);
    }
    free(ere);
    free(copy);
    return ok;
}

/* Parses JSON text as the grammars write it, where jansson is stricter than JSON: a \u escape
 * of a lone surrogate (valid JSON syntax) becomes \u0041, a surrogate pair one \u0041 too, and
 * exponents become e0 so that no number overflows a double (no supported keyword bounds a
 * number written with an exponent). NULL when it is not JSON. */
static inline json_t *jv_parse(const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    int in_str = 0;
    for (size_t i = 0; text[i]; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\' && text[i + 1] == 'u' && strlen(text + i) >= 6 &&
                (text[i + 2] == 'd' || text[i + 2] == 'D') && strchr("89abAB", text[i + 3]) &&
                text[i + 3]) {
                buf_puts(&b, "\\u0041");
                i += 5;
                if (text[i + 1] == '\\' && text[i + 2] == 'u' && strlen(text + i + 1) >= 6 &&
                    (text[i + 3] == 'd' || text[i + 3] == 'D') && strchr("cdefCDEF", text[i + 4]) &&
                    text[i + 4])
                    i += 6;
                continue;
            }
            if (c == '\\' && text[i + 1] == 'u' && strlen(text + i) >= 6 &&
                (text[i + 2] == 'd' || text[i + 2] == 'D') && strchr("cdefCDEF", text[i + 3]) &&
                text[i + 3]) {
                buf_puts(&b, "\\u0041");
                i += 5;
                continue;
            }
            if (c == '\\' && text[i + 1]) {
                buf_append(&b, text + i, 2);
                i++;
                continue;
            }
            if (c == '"')
                in_str = 0;
            buf_append(&b, &c, 1);
        } else if (c == '"') {
            in_str = 1;
            buf_append(&b, &c, 1);
        } else if ((c == 'e' || c == 'E') && i > 0 && text[i - 1] >= '0' && text[i - 1] <= '9') {
            buf_puts(&b, "e0");
            i++;
            if (text[i] == '+' || text[i] == '-')
                i++;
            while (text[i] >= '0' && text[i] <= '9')
                i++;
            i--;
        } else {
            buf_append(&b, &c, 1);
        }
    }
    json_error_t je;
    json_t *v = json_loads(b.data ? b.data : "", JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    buf_free(&b);
    return v;
}

static inline size_t jv_cps(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static inline int jv_valid(json_t *v, json_t *s, json_t *root);

static inline int jv_format(const char *f, const char *t)
{
    static const char date[] = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    static const char time[] = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{3})?(Z|[+-]([01]["
                               "0-9]|2[0-3]):[0-5][0-9])";
    char re[512];
    if (!strcmp(f, "date"))
        snprintf(re, sizeof re, "^%s$", date);
    else if (!strcmp(f, "time"))
        snprintf(re, sizeof re, "^%s$", time);
    else if (!strcmp(f, "date-time"))
        snprintf(re, sizeof re, "^%sT%s$", date, time);
    else if (!strncmp(f, "uuid", 4))
        snprintf(re, sizeof re,
                 "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                 "[0-9a-fA-F]{12}$");
    else if (!strcmp(f, "email"))
        snprintf(re, sizeof re, "^[a-zA-Z0-9._%%+-]+@[a-zA-Z0-9-]+(\\.[a-zA-Z0-9-]+)+$");
    else if (!strcmp(f, "ipv4"))
        snprintf(re, sizeof re,
                 "^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])(\\.(25[0-5]|2[0-4][0-9]|"
                 "1[0-9][0-9]|[1-9][0-9]|[0-9])){3}$");
    else
        return 0;
    regex_t r;
    int ok = 0;
    if (!regcomp(&r, re, REG_EXTENDED | REG_NOSUB)) {
        ok = regexec(&r, t, 0, NULL, 0) == 0;
        regfree(&r);
    }
    return ok;
}

static inline int jv_object(json_t *v, json_t *s, json_t *root)
{
    if (!json_is_object(v))
        return 0;
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *add = json_object_get(s, "additionalProperties");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x)
    {
        json_t *ps = json_object_get(props, k);
        if (ps) {
            if (!jv_valid(x, ps, root))
                return 0;
        } else if (add ? json_is_false(add) : props != NULL) {
            return 0;
        } else if (add && json_is_object(add) && !jv_valid(x, add, root)) {
            return 0;
        }
    }
    size_t i;
    json_array_foreach(req, i, x) if (!json_object_get(v, json_string_value(x))) return 0;
    return 1;
}

static inline int jv_number_bounds(json_t *v, json_t *s)
{
    double d = json_number_value(v);
    json_t *b;
    if ((b = json_object_get(s, "minimum")) && d < json_number_value(b))
        return 0;
    if ((b = json_object_get(s, "maximum")) && d > json_number_value(b))
        return 0;
    if ((b = json_object_get(s, "exclusiveMinimum")) && d <= json_number_value(b))
        return 0;
    if ((b = json_object_get(s, "exclusiveMaximum")) && d >= json_number_value(b))
        return 0;
    return 1;
}

static inline int jv_typed(json_t *v, json_t *s, json_t *root, const char *t)
{
    size_t i;
    json_t *x;
    json_t *additional = json_object_get(s, "additionalProperties");
    int has_props = json_object_get(s, "properties") || (additional && !json_is_true(additional));
    if (!*t) {
        if (has_props)
            t = "object";
        else if (json_object_get(s, "allOf"))
            t = "allOf";
        else if (json_object_get(s, "items") || json_object_get(s, "prefixItems"))
            t = "array";
        else if (json_object_get(s, "pattern") || json_object_get(s, "minLength") ||
                 json_object_get(s, "maxLength") || json_object_get(s, "format"))
            t = "string";
        else
            return 1;
    }
    if (!strcmp(t, "allOf") ||
        (!strcmp(t, "object") && !has_props && json_object_get(s, "allOf"))) {
        json_t *merged = json_object(), *props = json_object(), *req = json_array();
        int all_enum = 1, ok = 1;
        json_array_foreach(json_object_get(s, "allOf"), i, x)
        {
            while (json_object_get(x, "$ref"))
                x = jv_pointer(root, json_string_value(json_object_get(x, "$ref")));
            if (!json_object_get(x, "enum"))
                all_enum = 0;
            else if (!jv_valid(v, x, root))
                ok = 0;
            json_t *alts = json_object_get(x, "anyOf");
            size_t k;
            json_t *a;
            json_array_foreach(alts, k, a)
            {
                while (json_object_get(a, "$ref"))
                    a = jv_pointer(root, json_string_value(json_object_get(a, "$ref")));
                json_object_update_missing(props, json_object_get(a, "properties"));
            }
            json_object_update_missing(props, json_object_get(x, "properties"));
            if (json_is_array(json_object_get(x, "required")))
                json_array_extend(req, json_object_get(x, "required"));
        }
        json_object_set_new(merged, "properties", props);
        json_object_set_new(merged, "required", req);
        if (!all_enum)
            ok = jv_object(v, merged, root);
        json_decref(merged);
        return ok;
    }
    if (!strcmp(t, "object")) {
        if (!has_props && !json_object_get(s, "additionalProperties"))
            return json_is_object(v);
        return jv_object(v, s, root);
    }
    if (!strcmp(t, "array")) {
        if (!json_is_array(v))
            return 0;
        json_t *items = json_object_get(s, "items"), *pre = json_object_get(s, "prefixItems");
        if (pre && !items && !json_is_array(pre)) {
            items = pre;
            pre = NULL;
        }
        json_t *tuple = json_is_array(pre) ? pre : json_is_array(items) ? items : NULL;
        size_t n = json_array_size(v);
        if (tuple) {
            size_t m = json_array_size(tuple);
            int rest = tuple == pre && items && !json_is_false(items);
            if (n < m || (!rest && n != m))
                return 0;
            json_array_foreach(
                v, i, x) if (!jv_valid(x, i < m ? json_array_get(tuple, i) : items, root)) return 0;
            return 1;
        }
        json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
        if ((mn && n < (size_t)json_integer_value(mn)) ||
            (mx && n > (size_t)json_integer_value(mx)))
            return 0;
        json_array_foreach(v, i, x) if (items && !jv_valid(x, items, root)) return 0;
        return 1;
    }
    if (!strcmp(t, "string")) {
        if (!json_is_string(v))
            return 0;
        const char *str = json_string_value(v);
        json_t *p = json_object_get(s, "pattern"), *f = json_object_get(s, "format");
        if (p)
            return jv_regex(json_string_value(p), str, json_string_length(v));
        if (f)
            return jv_format(json_string_value(f), str);
        json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        size_t n = jv_cps(str);
        return !((mn && n < (size_t)json_integer_value(mn)) ||
                 (mx && n > (size_t)json_integer_value(mx)));
    }
    if (!strcmp(t, "integer"))
        return json_is_integer(v) && jv_number_bounds(v, s);
    if (!strcmp(t, "number"))
        return json_is_number(v);
    if (!strcmp(t, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(t, "null"))
        return json_is_null(v);
    return 0;
}

static inline int jv_valid(json_t *v, json_t *s, json_t *root)
{
    size_t i;
    json_t *x;
    if (json_is_true(s))
        return 1;
    if (!json_is_object(s))
        return 0;
    if (json_object_get(s, "$ref"))
        return jv_valid(v, jv_pointer(root, json_string_value(json_object_get(s, "$ref"))), root);
    if (json_is_true(json_object_get(s, "nullable")) && json_is_null(v))
        return 1;
    json_t *alts = json_object_get(s, "anyOf");
    if (!alts)
        alts = json_object_get(s, "oneOf");
    if (alts) {
        json_array_foreach(alts, i, x) if (jv_valid(v, x, root)) return 1;
        return 0;
    }
    json_t *type = json_object_get(s, "type");
    if (json_is_array(type)) {
        json_array_foreach(type, i, x)
        {
            json_t *copy = json_copy(s);
            json_object_set(copy, "type", x);
            int ok = jv_valid(v, copy, root);
            json_decref(copy);
            if (ok)
                return 1;
        }
        return 0;
    }
    if (json_object_get(s, "const"))
        return json_equal(v, json_object_get(s, "const"));
    if (json_object_get(s, "enum")) {
        json_array_foreach(json_object_get(s, "enum"), i, x) if (json_equal(v, x)) return 1;
        return 0;
    }
    return jv_typed(v, s, root, type ? json_string_value(type) : "");
}

#endif
