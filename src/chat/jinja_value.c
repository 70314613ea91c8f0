/* Jinja values: the arena they live in, conversion from JSON, truth, equality and order, and
 * printing as Python's str(), repr() and json.dumps() print them. */
#include "chat/jinja_int.h"

#include "base/utf8.h"
#include "base/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct jchunk {
    struct jchunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

void *jx_alloc(struct jctx *c, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct jchunk *h = c->chunks;
    if (!h || h->cap - h->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        if (c->mem_used + cap > c->lim.max_memory)
            jx_fail_code(c, ERR_TOO_LARGE, c->cur_line,
                         "the template used more than %zu bytes of memory", c->lim.max_memory);
        c->mem_used += cap;
        h = xmalloc(sizeof *h + cap);
        h->cap = cap;
        h->used = 0;
        h->next = c->chunks;
        c->chunks = h;
    }
    void *p = h->data + h->used;
    h->used += n;
    memset(p, 0, n);
    return p;
}

char *jx_strndup(struct jctx *c, const char *s, size_t n)
{
    char *p = jx_alloc(c, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void jx_free_arena(struct jctx *c);
void jx_free_arena(struct jctx *c)
{
    while (c->chunks) {
        struct jchunk *h = c->chunks;
        c->chunks = h->next;
        free(h);
    }
}

void jx_buf(struct jctx *c, struct jsb *b)
{
    (void)c;
    b->data = NULL;
    b->len = b->cap = 0;
}

void jx_put(struct jctx *c, struct jsb *b, const char *p, size_t n)
{
    if (!n)
        return;
    if (n > c->lim.max_output || b->len > c->lim.max_output - n)
        jx_fail_code(c, ERR_TOO_LARGE, c->cur_line, "the template's output is over %zu bytes",
                     c->lim.max_output);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = jx_alloc(c, cap);
        if (b->len)
            memcpy(d, b->data, b->len);
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void jx_putz(struct jctx *c, struct jsb *b, const char *s)
{
    jx_put(c, b, s, strlen(s));
}

struct jv jx_buf_str(struct jctx *c, struct jsb *b)
{
    (void)c;
    return jv_strb(b->data ? b->data : "", b->len);
}

struct jv jv_undef(const char *name)
{
    struct jv v = {.k = JV_UNDEF};
    v.u.s.p = name;
    return v;
}
struct jv jv_none(void)
{
    return (struct jv){.k = JV_NONE};
}
struct jv jv_bool(int b)
{
    struct jv v = {.k = JV_BOOL};
    v.u.b = b != 0;
    return v;
}
struct jv jv_int(int64_t i)
{
    struct jv v = {.k = JV_INT};
    v.u.i = i;
    return v;
}
struct jv jv_float(double f)
{
    struct jv v = {.k = JV_FLOAT};
    v.u.f = f;
    return v;
}
struct jv jv_strb(const char *p, size_t n)
{
    struct jv v = {.k = JV_STR};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
struct jv jv_strz(const char *p)
{
    return jv_strb(p, strlen(p));
}
struct jv jv_str(struct jctx *c, const char *p, size_t n)
{
    if (n > c->lim.max_output)
        jx_fail_code(c, ERR_TOO_LARGE, c->cur_line, "a string is over %zu bytes",
                     c->lim.max_output);
    return jv_strb(jx_strndup(c, p, n), n);
}
struct jv jv_list(struct jctx *c, size_t cap)
{
    struct jv v = {.k = JV_LIST};
    v.u.l = jx_alloc(c, sizeof *v.u.l);
    if (cap) {
        v.u.l->v = jx_alloc(c, cap * sizeof(struct jv));
        v.u.l->cap = cap;
    }
    return v;
}
struct jv jv_dict(struct jctx *c)
{
    struct jv v = {.k = JV_DICT};
    v.u.d = jx_alloc(c, sizeof *v.u.d);
    return v;
}

void jl_push(struct jctx *c, struct jlist *l, struct jv v)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct jv *nv = jx_alloc(c, cap * sizeof *nv);
        if (l->n)
            memcpy(nv, l->v, l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
}

struct jv *jd_get(struct jdict *d, struct jv k)
{
    for (size_t i = 0; i < d->n; i++)
        if (jv_eq(d->k[i], k))
            return &d->v[i];
    return NULL;
}

struct jv *jd_gets(struct jdict *d, const char *k)
{
    size_t n = strlen(k);
    for (size_t i = 0; i < d->n; i++)
        if (d->k[i].k == JV_STR && d->k[i].u.s.n == n && !memcmp(d->k[i].u.s.p, k, n))
            return &d->v[i];
    return NULL;
}

void jd_set(struct jctx *c, struct jdict *d, struct jv k, struct jv v)
{
    struct jv *have = jd_get(d, k);
    if (have) {
        *have = v;
        return;
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 4;
        struct jv *nk = jx_alloc(c, cap * sizeof *nk), *nv = jx_alloc(c, cap * sizeof *nv);
        if (d->n) {
            memcpy(nk, d->k, d->n * sizeof *nk);
            memcpy(nv, d->v, d->n * sizeof *nv);
        }
        d->k = nk;
        d->v = nv;
        d->cap = cap;
    }
    d->k[d->n] = k;
    d->v[d->n] = v;
    d->n++;
}

struct jv jv_from_json(struct jctx *c, json_t *j, int depth)
{
    if (depth > 1000)
        jx_fail(c, 0, "the template's input nests too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        struct jv d = jv_dict(c);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v)
        {
            jd_set(c, d.u.d, jv_str(c, k, strlen(k)), jv_from_json(c, v, depth + 1));
        }
        return d;
    }
    case JSON_ARRAY: {
        struct jv l = jv_list(c, json_array_size(j));
        for (size_t i = 0; i < json_array_size(j); i++)
            jl_push(c, l.u.l, jv_from_json(c, json_array_get(j, i), depth + 1));
        return l;
    }
    case JSON_STRING: return jv_str(c, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_TRUE: return jv_bool(1);
    case JSON_FALSE: return jv_bool(0);
    case JSON_NULL: return jv_none();
    }
    return jv_none();
}

int jv_is_str(struct jv v, const char *s)
{
    return v.k == JV_STR && v.u.s.n == strlen(s) && !memcmp(v.u.s.p, s, v.u.s.n);
}

int jv_truthy(struct jv v)
{
    switch (v.k) {
    case JV_UNDEF:
    case JV_NONE: return 0;
    case JV_BOOL: return v.u.b;
    case JV_INT: return v.u.i != 0;
    case JV_FLOAT: return v.u.f != 0.0;
    case JV_STR: return v.u.s.n != 0;
    case JV_LIST: return v.gen || v.u.l->n != 0;
    case JV_DICT: return v.u.d->n != 0;
    default: return 1;
    }
}

static int is_num(struct jv v)
{
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

static double num_f(struct jv v)
{
    return v.k == JV_FLOAT ? v.u.f : v.k == JV_INT ? (double)v.u.i : (double)v.u.b;
}

int jv_eq(struct jv a, struct jv b)
{
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_INT ? a.u.i : a.u.b, y = b.k == JV_INT ? b.u.i : b.u.b;
            return x == y;
        }
        return num_f(a) == num_f(b);
    }
    if (a.k != b.k)
        return 0;
    switch (a.k) {
    case JV_UNDEF:
    case JV_NONE: return 1;
    case JV_STR: return a.u.s.n == b.u.s.n && !memcmp(a.u.s.p, b.u.s.p, a.u.s.n);
    case JV_LIST:
        if (a.tuple != b.tuple || a.u.l->n != b.u.l->n)
            return 0;
        for (size_t i = 0; i < a.u.l->n; i++)
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i]))
                return 0;
        return 1;
    case JV_DICT:
        if (a.u.d->n != b.u.d->n)
            return 0;
        for (size_t i = 0; i < a.u.d->n; i++) {
            struct jv *o = jd_get(b.u.d, a.u.d->k[i]);
            if (!o || !jv_eq(a.u.d->v[i], *o))
                return 0;
        }
        return 1;
    case JV_NS: return a.u.d == b.u.d;
    case JV_MACRO: return a.u.m == b.u.m;
    case JV_FUNC: return a.u.fn == b.u.fn;
    case JV_LOOP: return a.u.loop == b.u.loop;
    default: return 0;
    }
}

const char *jv_type_name(struct jv v)
{
    switch (v.k) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return "builtin_function_or_method";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

int jv_cmp(struct jctx *c, int line, struct jv a, struct jv b)
{
    if (is_num(a) && is_num(b)) {
        if (a.k != JV_FLOAT && b.k != JV_FLOAT) {
            int64_t x = a.k == JV_INT ? a.u.i : a.u.b, y = b.k == JV_INT ? b.u.i : b.u.b;
            return x < y ? -1 : x > y;
        }
        double x = num_f(a), y = num_f(b);
        return x < y ? -1 : x > y;
    }
    if (a.k == JV_STR && b.k == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = memcmp(a.u.s.p, b.u.s.p, n);
        if (r)
            return r < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.k == JV_LIST && b.k == JV_LIST) {
        for (size_t i = 0; i < a.u.l->n && i < b.u.l->n; i++) {
            if (!jv_eq(a.u.l->v[i], b.u.l->v[i]))
                return jv_cmp(c, line, a.u.l->v[i], b.u.l->v[i]);
        }
        return a.u.l->n < b.u.l->n ? -1 : a.u.l->n > b.u.l->n;
    }
    jx_fail(c, line, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
            jv_type_name(b));
}

/* Python's repr(float): the shortest digits that read back the same, in fixed notation for
 * exponents -4..15 and scientific past them. */
void jv_fmt_float(char *out, size_t cap, double f)
{
    if (isnan(f)) {
        snprintf(out, cap, "nan");
        return;
    }
    if (isinf(f)) {
        snprintf(out, cap, f < 0 ? "-inf" : "inf");
        return;
    }
    char tmp[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f)
            break;
    }
    /* tmp: [-]d.ddde[+-]XX */
    char digits[32];
    int nd = 0, neg = tmp[0] == '-';
    const char *p = tmp + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    char *o = out;
    size_t left = cap;
#define OUT(...)                                                                                   \
    do {                                                                                           \
        int w_ = snprintf(o, left, __VA_ARGS__);                                                   \
        if (w_ > 0 && (size_t)w_ < left) {                                                         \
            o += w_;                                                                               \
            left -= (size_t)w_;                                                                    \
        }                                                                                          \
    } while (0)
    if (neg)
        OUT("-");
    if (exp < -4 || exp >= 16) {
        OUT("%c", digits[0]);
        if (nd > 1)
            OUT(".%s", digits + 1);
        OUT("e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    } else if (exp < 0) {
        OUT("0.");
        for (int i = 0; i < -exp - 1; i++)
            OUT("0");
        OUT("%s", digits);
    } else {
        for (int i = 0; i <= exp; i++)
            OUT("%c", i < nd ? digits[i] : '0');
        OUT(".");
        if (nd > exp + 1)
            OUT("%s", digits + exp + 1);
        else
            OUT("0");
    }
#undef OUT
}

static void repr_str(struct jctx *c, struct jsb *b, const char *p, size_t n)
{
    int has_sq = memchr(p, '\'', n) != NULL, has_dq = memchr(p, '"', n) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jx_put(c, b, &q, 1);
    size_t i = 0;
    const unsigned char *s = (const unsigned char *)p;
    while (i < n) {
        size_t start = i;
        uint32_t cp = utf8_get((const char *)s, n, &i);
        char esc[16];
        if (cp == (uint32_t)q || cp == '\\') {
            snprintf(esc, sizeof esc, "\\%c", (char)cp);
        } else if (cp == '\n') {
            snprintf(esc, sizeof esc, "\\n");
        } else if (cp == '\r') {
            snprintf(esc, sizeof esc, "\\r");
        } else if (cp == '\t') {
            snprintf(esc, sizeof esc, "\\t");
        } else if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) {
            snprintf(esc, sizeof esc, "\\x%02x", cp);
        } else if ((cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
                   (cp >= 0x205f && cp <= 0x2064) || cp == 0x1680 || cp == 0x3000 || cp == 0xfeff ||
                   (cp >= 0xd800 && cp <= 0xdfff)) {
            snprintf(esc, sizeof esc, "\\u%04x", cp);
        } else {
            jx_put(c, b, p + start, i - start);
            continue;
        }
        jx_putz(c, b, esc);
    }
    jx_put(c, b, &q, 1);
}

void jv_print(struct jctx *c, struct jsb *b, struct jv v, int repr)
{
    char num[64];
    switch (v.k) {
    case JV_UNDEF:
        if (repr)
            jx_putz(c, b, "Undefined");
        return;
    case JV_NONE: jx_putz(c, b, "None"); return;
    case JV_BOOL: jx_putz(c, b, v.u.b ? "True" : "False"); return;
    case JV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.u.i);
        jx_putz(c, b, num);
        return;
    case JV_FLOAT:
        jv_fmt_float(num, sizeof num, v.u.f);
        jx_putz(c, b, num);
        return;
    case JV_STR:
        if (repr)
            repr_str(c, b, v.u.s.p, v.u.s.n);
        else
            jx_put(c, b, v.u.s.p, v.u.s.n);
        return;
    case JV_LIST:
        jx_putz(c, b, v.tuple ? "(" : "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i)
                jx_putz(c, b, ", ");
            jv_print(c, b, v.u.l->v[i], 1);
        }
        if (v.tuple && v.u.l->n == 1)
            jx_putz(c, b, ",");
        jx_putz(c, b, v.tuple ? ")" : "]");
        return;
    case JV_NS:
        jx_putz(c, b, "<Namespace ");
        /* fall through */
    case JV_DICT:
        jx_putz(c, b, "{");
        for (size_t i = 0; i < v.u.d->n; i++) {
            if (i)
                jx_putz(c, b, ", ");
            jv_print(c, b, v.u.d->k[i], 1);
            jx_putz(c, b, ": ");
            jv_print(c, b, v.u.d->v[i], 1);
        }
        jx_putz(c, b, v.k == JV_NS ? "}>" : "}");
        return;
    case JV_MACRO: jx_putz(c, b, "<Macro>"); return;
    case JV_FUNC: jx_putz(c, b, "<built-in method>"); return;
    case JV_LOOP: jx_putz(c, b, "<LoopContext>"); return;
    }
}

struct jv jv_to_str(struct jctx *c, struct jv v)
{
    if (v.k == JV_STR)
        return v;
    struct jsb b;
    jx_buf(c, &b);
    jv_print(c, &b, v, 0);
    return jx_buf_str(c, &b);
}

static void json_str(struct jctx *c, struct jsb *b, const char *p, size_t n)
{
    jx_putz(c, b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        const char *esc = NULL;
        char tmp[8];
        if (ch == '"')
            esc = "\\\"";
        else if (ch == '\\')
            esc = "\\\\";
        else if (ch == '\n')
            esc = "\\n";
        else if (ch == '\r')
            esc = "\\r";
        else if (ch == '\t')
            esc = "\\t";
        else if (ch == '\b')
            esc = "\\b";
        else if (ch == '\f')
            esc = "\\f";
        else if (ch < 0x20) {
            snprintf(tmp, sizeof tmp, "\\u%04x", ch);
            esc = tmp;
        } else if (ch >= 0x80 && c->json_ascii) {
            jx_put(c, b, p + i - run, run);
            run = 0;
            size_t k = i;
            uint32_t cp = utf8_get(p, n, &k);
            char u[16];
            if (cp >= 0x10000) {
                cp -= 0x10000;
                snprintf(u, sizeof u, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
            } else {
                snprintf(u, sizeof u, "\\u%04x", cp);
            }
            jx_putz(c, b, u);
            i = k - 1;
            continue;
        }
        if (esc) {
            jx_put(c, b, p + i - run, run);
            run = 0;
            jx_putz(c, b, esc);
        } else {
            run++;
        }
    }
    jx_put(c, b, p + n - run, run);
    jx_putz(c, b, "\"");
}

static void newline_indent(struct jctx *c, struct jsb *b, int indent, int level)
{
    jx_putz(c, b, "\n");
    for (int i = 0; i < indent * level; i++)
        jx_putz(c, b, " ");
}

void jv_tojson(struct jctx *c, int line, struct jsb *b, struct jv v, int indent,
               const char *item_sep, const char *key_sep, int sort_keys, int level)
{
    char num[64];
    if (level > 1000)
        jx_fail(c, line, "tojson: the value nests too deeply");
    switch (v.k) {
    case JV_NONE: jx_putz(c, b, "null"); return;
    case JV_BOOL: jx_putz(c, b, v.u.b ? "true" : "false"); return;
    case JV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v.u.i);
        jx_putz(c, b, num);
        return;
    case JV_FLOAT:
        if (isnan(v.u.f))
            jx_putz(c, b, "NaN");
        else if (isinf(v.u.f))
            jx_putz(c, b, v.u.f < 0 ? "-Infinity" : "Infinity");
        else {
            jv_fmt_float(num, sizeof num, v.u.f);
            jx_putz(c, b, num);
        }
        return;
    case JV_STR: json_str(c, b, v.u.s.p, v.u.s.n); return;
    case JV_LIST:
        if (v.gen)
            jx_fail(c, line, "Object of type generator is not JSON serializable");
        if (!v.u.l->n) {
            jx_putz(c, b, "[]");
            return;
        }
        jx_putz(c, b, "[");
        for (size_t i = 0; i < v.u.l->n; i++) {
            if (i)
                jx_putz(c, b, item_sep);
            if (indent >= 0)
                newline_indent(c, b, indent, level + 1);
            jv_tojson(c, line, b, v.u.l->v[i], indent, item_sep, key_sep, sort_keys, level + 1);
        }
        if (indent >= 0)
            newline_indent(c, b, indent, level);
        jx_putz(c, b, "]");
        return;
    case JV_DICT: {
        struct jdict *d = v.u.d;
        if (!d->n) {
            jx_putz(c, b, "{}");
            return;
        }
        size_t *order = jx_alloc(c, d->n * sizeof *order);
        for (size_t i = 0; i < d->n; i++)
            order[i] = i;
        if (sort_keys) /* insertion sort keeps it dependency-free; dicts here are small */
            for (size_t i = 1; i < d->n; i++)
                for (size_t j = i; j > 0 && jv_cmp(c, line, d->k[order[j - 1]], d->k[order[j]]) > 0;
                     j--) {
                    size_t t = order[j];
                    order[j] = order[j - 1];
                    order[j - 1] = t;
                }
        jx_putz(c, b, "{");
        for (size_t i = 0; i < d->n; i++) {
            struct jv k = d->k[order[i]];
            if (i)
                jx_putz(c, b, item_sep);
            if (indent >= 0)
                newline_indent(c, b, indent, level + 1);
            if (k.k == JV_STR) {
                json_str(c, b, k.u.s.p, k.u.s.n);
            } else if (k.k == JV_INT || k.k == JV_FLOAT || k.k == JV_BOOL || k.k == JV_NONE) {
                struct jsb kb;
                jx_buf(c, &kb);
                jv_tojson(c, line, &kb, k, -1, ", ", ": ", 0, level + 1);
                struct jv ks = jx_buf_str(c, &kb);
                json_str(c, b, ks.u.s.p, ks.u.s.n);
            } else {
                jx_fail(c, line, "keys must be str, int, float, bool or None, not %s",
                        jv_type_name(k));
            }
            jx_putz(c, b, key_sep);
            jv_tojson(c, line, b, d->v[order[i]], indent, item_sep, key_sep, sort_keys, level + 1);
        }
        if (indent >= 0)
            newline_indent(c, b, indent, level);
        jx_putz(c, b, "}");
        return;
    }
    default: jx_fail(c, line, "Object of type %s is not JSON serializable", jv_type_name(v));
    }
}

size_t ju_len(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)p[i] & 0xc0) != 0x80)
            k++;
    return k;
}

size_t ju_off(const char *p, size_t n, size_t i)
{
    size_t k = 0;
    for (size_t j = 0; j < n; j++) {
        if (((unsigned char)p[j] & 0xc0) != 0x80) {
            if (k == i)
                return j;
            k++;
        }
    }
    return n;
}

struct jlist *jv_iter(struct jctx *c, int line, struct jv v)
{
    struct jv l;
    switch (v.k) {
    case JV_UNDEF: return jv_list(c, 0).u.l;
    case JV_LIST: return v.u.l;
    case JV_DICT:
    case JV_NS:
        l = jv_list(c, v.u.d->n);
        for (size_t i = 0; i < v.u.d->n; i++)
            jl_push(c, l.u.l, v.u.d->k[i]);
        return l.u.l;
    case JV_STR: {
        l = jv_list(c, v.u.s.n);
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t s = i;
            utf8_get(v.u.s.p, v.u.s.n, &i);
            jl_push(c, l.u.l, jv_strb(v.u.s.p + s, i - s));
        }
        return l.u.l;
    }
    default: jx_fail(c, line, "'%s' object is not iterable", jv_type_name(v));
    }
}
