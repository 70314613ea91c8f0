/* Jinja's filters and tests, each as jinja2 defines it. */
#include "chat/jinja_int.h"

#include "base/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const filters[] = {
    "abs",    "attr",   "capitalize", "count",      "d",         "default", "dictsort",
    "e",      "escape", "first",      "float",      "format",    "indent",  "int",
    "items",  "join",   "last",       "length",     "list",      "lower",   "map",
    "max",    "min",    "reject",     "rejectattr", "replace",   "reverse", "round",
    "safe",   "select", "selectattr", "sort",       "string",    "sum",     "title",
    "tojson", "trim",   "unique",     "upper",      "wordcount", NULL};

static const char *const tests[] = {
    "boolean", "callable",  "defined", "divisibleby", "eq",     "equalto",     "escaped",
    "even",    "false",     "float",   "ge",          "gt",     "greaterthan", "in",
    "integer", "iterable",  "le",      "lower",       "lt",     "lessthan",    "mapping",
    "ne",      "none",      "number",  "odd",         "sameas", "sequence",    "string",
    "true",    "undefined", "upper",   "==",          "!=",     "<",           "<=",
    ">",       ">=",        NULL};

static int in_list(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (!strcmp(list[i], name))
            return 1;
    return 0;
}

int jx_filter_known(const char *name)
{
    return in_list(filters, name);
}

int jx_test_known(const char *name)
{
    return in_list(tests, name);
}

/* The argument at position pos or named name, or NULL. */
struct jv *jx_arg(struct jv *args, const char **names, size_t n, size_t pos, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!names || !names[i]) {
            if (k++ == pos)
                return &args[i];
        } else if (name && !strcmp(names[i], name)) {
            return &args[i];
        }
    }
    return NULL;
}

static int arg_bool(struct jv *args, const char **names, size_t n, size_t pos, const char *name)
{
    struct jv *v = jx_arg(args, names, n, pos, name);
    return v && jv_truthy(*v);
}

static struct jv need_str(struct jctx *c, struct jv v)
{
    return jv_to_str(c, v);
}

/* ---- sorting ---- */

struct sort_opts {
    struct jctx *c;
    int line;
    int case_sensitive;
    const char *attribute;
    int pair; /* dictsort: sort (key, value) pairs by item 0 or 1; -1: not pairs */
};

static struct jv sort_key(struct sort_opts *o, struct jv v)
{
    if (o->attribute)
        v = jx_getattr(o->c, o->line, v, jv_strz(o->attribute), 1);
    if (o->pair >= 0)
        v = v.u.l->v[o->pair];
    if (!o->case_sensitive && v.k == JV_STR)
        v = jx_case(o->c, v, 'l');
    return v;
}

static void merge_sort(struct sort_opts *o, struct jv *v, struct jv *keys, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(o, v, keys, h);
    merge_sort(o, v + h, keys + h, n - h);
    struct jv *tv = jx_alloc(o->c, n * sizeof *tv), *tk = jx_alloc(o->c, n * sizeof *tk);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (jv_cmp(o->c, o->line, keys[j], keys[i]) < 0) {
            tv[k] = v[j];
            tk[k++] = keys[j++];
        } else {
            tv[k] = v[i];
            tk[k++] = keys[i++];
        }
    }
    while (i < h) {
        tv[k] = v[i];
        tk[k++] = keys[i++];
    }
    while (j < n) {
        tv[k] = v[j];
        tk[k++] = keys[j++];
    }
    memcpy(v, tv, n * sizeof *v);
    memcpy(keys, tk, n * sizeof *keys);
}

static struct jv sorted(struct sort_opts *o, struct jlist *in, int reverse)
{
    struct jv out = jv_list(o->c, in->n);
    struct jv *keys = jx_alloc(o->c, (in->n + 1) * sizeof *keys);
    for (size_t i = 0; i < in->n; i++) {
        jl_push(o->c, out.u.l, in->v[i]);
        keys[i] = sort_key(o, in->v[i]);
    }
    if (reverse) /* Python's reverse sort stays stable: reverse, sort, reverse */
        for (size_t i = 0; i < in->n / 2; i++) {
            struct jv t = out.u.l->v[i], tk = keys[i];
            out.u.l->v[i] = out.u.l->v[in->n - 1 - i];
            keys[i] = keys[in->n - 1 - i];
            out.u.l->v[in->n - 1 - i] = t;
            keys[in->n - 1 - i] = tk;
        }
    merge_sort(o, out.u.l->v, keys, in->n);
    if (reverse)
        for (size_t i = 0; i < in->n / 2; i++) {
            struct jv t = out.u.l->v[i];
            out.u.l->v[i] = out.u.l->v[in->n - 1 - i];
            out.u.l->v[in->n - 1 - i] = t;
        }
    return out;
}

/* select/reject/selectattr/rejectattr: args are [attr,] test name, test args */
static struct jv select_items(struct jctx *c, int line, struct jv in, struct jv *args, size_t n,
                              int with_attr, int keep)
{
    struct jv out = jv_list(c, 0);
    out.gen = 1;
    if (!jv_truthy(in)) /* jinja2 skips a false sequence: none | selectattr(...) is empty */
        return out;
    struct jlist *l = jv_iter(c, line, in);
    size_t ai = 0;
    struct jv attr = jv_none();
    if (with_attr) {
        if (n < 1 || args[0].k != JV_STR)
            jx_fail(c, line, "selectattr needs an attribute name");
        attr = args[ai++];
    }
    const char *test = NULL;
    if (ai < n) {
        struct jv t = jv_to_str(c, args[ai++]);
        test = jx_strndup(c, t.u.s.p, t.u.s.n);
        if (!jx_test_known(test))
            jx_fail(c, line, "no test named '%s'", test);
    }
    for (size_t i = 0; i < l->n; i++) {
        struct jv v = l->v[i];
        if (with_attr) {
            const char *a = jx_strndup(c, attr.u.s.p, attr.u.s.n);
            /* dotted paths: "function.name" */
            const char *dot;
            while ((dot = strchr(a, '.')) != NULL) {
                v = jx_getattr(c, line, v, jv_str(c, a, (size_t)(dot - a)), 1);
                a = dot + 1;
            }
            v = jx_getattr(c, line, v, jv_strz(a), 1);
        }
        int r = test ? jx_test(c, line, test, v, args + ai, n - ai) : jv_truthy(v);
        if (r == keep)
            jl_push(c, out.u.l, l->v[i]);
    }
    return out;
}

static struct jv to_int(struct jctx *c, struct jv v, struct jv dflt)
{
    (void)c;
    switch (v.k) {
    case JV_INT: return v;
    case JV_BOOL: return jv_int(v.u.b);
    case JV_FLOAT:
        if (isnan(v.u.f) || isinf(v.u.f) || fabs(v.u.f) > 9.2e18)
            return dflt;
        return jv_int((int64_t)v.u.f);
    case JV_STR: {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(v.u.s.n < 63 ? v.u.s.n : 63), v.u.s.p);
        char *end;
        long long i = strtoll(tmp, &end, 10);
        while (*end && jx_is_space(*end))
            end++;
        if (*end == '\0' && end != tmp)
            return jv_int(i);
        double f = strtod(tmp, &end);
        while (*end && jx_is_space(*end))
            end++;
        if (*end == '\0' && end != tmp && fabs(f) < 9.2e18)
            return jv_int((int64_t)f);
        return dflt;
    }
    default: return dflt;
    }
}

/* The keyword arguments each filter takes (Python's signatures); others are a TypeError. */
static const struct {
    const char *filter, *kwargs;
} filter_kwargs[] = {
    {"tojson", " ensure_ascii indent separators sort_keys "},
    {"default", " default_value boolean "},
    {"d", " default_value boolean "},
    {"trim", " chars "},
    {"replace", " old new count "},
    {"join", " d attribute "},
    {"dictsort", " case_sensitive by reverse "},
    {"sort", " reverse case_sensitive attribute "},
    {"unique", " case_sensitive attribute "},
    {"min", " case_sensitive attribute "},
    {"max", " case_sensitive attribute "},
    {"int", " default base "},
    {"float", " default "},
    {"round", " precision method "},
    {"sum", " attribute start "},
    {"indent", " width first blank "},
    {"length", " "},
    {"count", " "},
    {"string", " "},
    {"upper", " "},
    {"lower", " "},
    {"first", " "},
    {"last", " "},
    {"list", " "},
    {"items", " "},
};

static void check_kwargs(struct jctx *c, int line, const char *name, const char **names, size_t n)
{
    for (size_t k = 0; k < ARRAY_LEN(filter_kwargs); k++) {
        if (strcmp(filter_kwargs[k].filter, name) != 0)
            continue;
        for (size_t i = 0; names && i < n; i++) {
            char key[80];
            if (!names[i])
                continue;
            snprintf(key, sizeof key, " %s ", names[i]);
            if (!strstr(filter_kwargs[k].kwargs, key))
                jx_fail(c, line, "%s() got an unexpected keyword argument '%s'", name, names[i]);
        }
        return;
    }
}

struct jv jx_filter(struct jctx *c, int line, const char *name, struct jv in, struct jv *args,
                    const char **names, size_t n)
{
    check_kwargs(c, line, name, names, n);
    if (!strcmp(name, "tojson")) {
        struct jv *ind = jx_arg(args, names, n, 1, "indent");
        struct jv *seps = jx_arg(args, names, n, 2, "separators");
        int indent = -1;
        if (ind && ind->k == JV_INT)
            indent = ind->u.i < 0 ? 0 : ind->u.i > 64 ? 64 : (int)ind->u.i;
        const char *item_sep = indent >= 0 ? "," : ", ", *key_sep = ": ";
        if (seps && seps->k == JV_LIST && seps->u.l->n == 2 && seps->u.l->v[0].k == JV_STR &&
            seps->u.l->v[1].k == JV_STR) {
            item_sep = jx_strndup(c, seps->u.l->v[0].u.s.p, seps->u.l->v[0].u.s.n);
            key_sep = jx_strndup(c, seps->u.l->v[1].u.s.p, seps->u.l->v[1].u.s.n);
        } else if (seps && seps->k != JV_NONE) {
            jx_fail(c, line, "tojson: separators must be a pair of strings");
        }
        if (ind && ind->k != JV_INT && ind->k != JV_NONE)
            jx_fail(c, line, "tojson: indent must be an integer");
        struct jsb b;
        jx_buf(c, &b);
        c->json_ascii = arg_bool(args, names, n, 0, "ensure_ascii");
        jv_tojson(c, line, &b, in, indent, item_sep, key_sep,
                  arg_bool(args, names, n, 3, "sort_keys"), 0);
        c->json_ascii = 0;
        return jx_buf_str(c, &b);
    }
    if (!strcmp(name, "length") || !strcmp(name, "count")) {
        switch (in.k) {
        case JV_STR: return jv_int((int64_t)ju_len(in.u.s.p, in.u.s.n));
        case JV_LIST:
            if (in.gen)
                jx_fail(c, line, "object of type 'generator' has no len()");
            return jv_int((int64_t)in.u.l->n);
        case JV_DICT:
        case JV_NS: return jv_int((int64_t)in.u.d->n);
        case JV_UNDEF: return jv_int(0);
        default: jx_fail(c, line, "object of type '%s' has no len()", jv_type_name(in));
        }
    }
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        struct jv *dv = jx_arg(args, names, n, 0, "default_value");
        int boolean = arg_bool(args, names, n, 1, "boolean");
        if (in.k == JV_UNDEF || (boolean && !jv_truthy(in)))
            return dv ? *dv : jv_strz("");
        return in;
    }
    if (!strcmp(name, "string"))
        return jv_to_str(c, in);
    if (!strcmp(name, "safe")) {
        struct jv s = jv_to_str(c, in);
        s.safe = 1;
        return s;
    }
    if (!strcmp(name, "trim"))
        return jx_strip(need_str(c, in), jx_arg(args, names, n, 0, "chars"), 1, 1);
    if (!strcmp(name, "upper"))
        return jx_case(c, need_str(c, in), 'u');
    if (!strcmp(name, "lower"))
        return jx_case(c, need_str(c, in), 'l');
    if (!strcmp(name, "capitalize"))
        return jx_case(c, need_str(c, in), 'c');
    if (!strcmp(name, "title"))
        return jx_case(c, need_str(c, in), 'j');
    if (!strcmp(name, "replace")) {
        struct jv *o = jx_arg(args, names, n, 0, "old"), *nw = jx_arg(args, names, n, 1, "new");
        struct jv *cnt = jx_arg(args, names, n, 2, "count");
        if (!o || !nw)
            jx_fail(c, line, "replace needs old and new");
        return jx_replace(c, need_str(c, in), jv_to_str(c, *o), jv_to_str(c, *nw),
                          cnt && cnt->k == JV_INT ? cnt->u.i : -1);
    }
    if (!strcmp(name, "join")) {
        struct jv *sep = jx_arg(args, names, n, 0, "d");
        struct jv *attr = jx_arg(args, names, n, 1, "attribute");
        struct jv s = sep ? jv_to_str(c, *sep) : jv_strz("");
        struct jlist *l = jv_iter(c, line, in);
        struct jsb b;
        jx_buf(c, &b);
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                jx_put(c, &b, s.u.s.p, s.u.s.n);
            struct jv v = l->v[i];
            if (attr)
                v = jx_getattr(c, line, v, *attr, 1);
            jv_print(c, &b, v, 0);
        }
        return jx_buf_str(c, &b);
    }
    if (!strcmp(name, "first") || !strcmp(name, "last")) {
        if (name[0] == 'l' && in.gen)
            jx_fail(c, line, "'generator' object is not reversible");
        struct jlist *l = jv_iter(c, line, in);
        if (!l->n)
            return jv_undef(NULL);
        return name[0] == 'f' ? l->v[0] : l->v[l->n - 1];
    }
    if (!strcmp(name, "list")) {
        struct jlist *l = jv_iter(c, line, in);
        struct jv out = jv_list(c, l->n);
        for (size_t i = 0; i < l->n; i++)
            jl_push(c, out.u.l, l->v[i]);
        return out;
    }
    if (!strcmp(name, "reverse")) {
        if (in.k == JV_STR) {
            struct jlist *l = jv_iter(c, line, in);
            struct jsb b;
            jx_buf(c, &b);
            for (size_t i = l->n; i > 0; i--)
                jx_put(c, &b, l->v[i - 1].u.s.p, l->v[i - 1].u.s.n);
            return jx_buf_str(c, &b);
        }
        struct jlist *l = jv_iter(c, line, in);
        struct jv out = jv_list(c, l->n);
        for (size_t i = l->n; i > 0; i--)
            jl_push(c, out.u.l, l->v[i - 1]);
        return out;
    }
    if (!strcmp(name, "items")) {
        struct jv out = jv_list(c, 0);
        out.gen = 1; /* jinja2's items is a generator: true even when empty */
        if (in.k == JV_UNDEF)
            return out;
        if (in.k != JV_DICT && in.k != JV_NS)
            jx_fail(c, line, "can only get item pairs from a mapping");
        for (size_t i = 0; i < in.u.d->n; i++) {
            struct jv t = jv_list(c, 2);
            t.tuple = 1;
            jl_push(c, t.u.l, in.u.d->k[i]);
            jl_push(c, t.u.l, in.u.d->v[i]);
            jl_push(c, out.u.l, t);
        }
        return out;
    }
    if (!strcmp(name, "dictsort")) {
        if (in.k != JV_DICT)
            jx_fail(c, line, "dictsort needs a mapping");
        struct jv pairs = jx_filter(c, line, "items", in, NULL, NULL, 0);
        struct jv *by = jx_arg(args, names, n, 1, "by");
        struct sort_opts o = {c, line, arg_bool(args, names, n, 0, "case_sensitive"), NULL,
                              by && jv_is_str(*by, "value") ? 1 : 0};
        return sorted(&o, pairs.u.l, arg_bool(args, names, n, 2, "reverse"));
    }
    if (!strcmp(name, "sort")) {
        struct jv *attr = jx_arg(args, names, n, 2, "attribute");
        struct sort_opts o = {
            c, line, arg_bool(args, names, n, 1, "case_sensitive"),
            attr && attr->k == JV_STR ? jx_strndup(c, attr->u.s.p, attr->u.s.n) : NULL, -1};
        return sorted(&o, jv_iter(c, line, in), arg_bool(args, names, n, 0, "reverse"));
    }
    if (!strcmp(name, "unique") || !strcmp(name, "min") || !strcmp(name, "max")) {
        struct jv *attr = jx_arg(args, names, n, 1, "attribute");
        struct sort_opts o = {
            c, line, arg_bool(args, names, n, 0, "case_sensitive"),
            attr && attr->k == JV_STR ? jx_strndup(c, attr->u.s.p, attr->u.s.n) : NULL, -1};
        struct jlist *l = jv_iter(c, line, in);
        if (name[0] == 'u') {
            struct jv out = jv_list(c, 0), seen = jv_list(c, 0);
            out.gen = 1;
            for (size_t i = 0; i < l->n; i++) {
                struct jv k = sort_key(&o, l->v[i]);
                int dup = 0;
                for (size_t j = 0; j < seen.u.l->n && !dup; j++)
                    dup = jv_eq(seen.u.l->v[j], k);
                if (!dup) {
                    jl_push(c, seen.u.l, k);
                    jl_push(c, out.u.l, l->v[i]);
                }
            }
            return out;
        }
        if (!l->n)
            return jv_undef(NULL);
        size_t best = 0;
        for (size_t i = 1; i < l->n; i++) {
            int r = jv_cmp(c, line, sort_key(&o, l->v[i]), sort_key(&o, l->v[best]));
            if (name[1] == 'i' ? r < 0 : r > 0)
                best = i;
        }
        return l->v[best];
    }
    if (!strcmp(name, "select") || !strcmp(name, "reject"))
        return select_items(c, line, in, args, n, 0, name[0] == 's');
    if (!strcmp(name, "selectattr") || !strcmp(name, "rejectattr"))
        return select_items(c, line, in, args, n, 1, name[0] == 's');
    if (!strcmp(name, "map")) {
        struct jv out = jv_list(c, 0);
        out.gen = 1;
        if (!jv_truthy(in))
            return out;
        struct jlist *l = jv_iter(c, line, in);
        struct jv *attr = jx_arg(args, names, n, 99, "attribute");
        struct jv *dflt = jx_arg(args, names, n, 99, "default");
        if (attr) {
            for (size_t i = 0; i < l->n; i++) {
                struct jv v = jx_getattr(c, line, l->v[i], *attr, 1);
                if (v.k == JV_UNDEF && dflt)
                    v = *dflt;
                jl_push(c, out.u.l, v);
            }
            return out;
        }
        if (!n || !args || args[0].k != JV_STR)
            jx_fail(c, line, "map needs a filter name or attribute=");
        const char *f = jx_strndup(c, args[0].u.s.p, args[0].u.s.n);
        if (!jx_filter_known(f))
            jx_fail(c, line, "no filter named '%s'", f);
        for (size_t i = 0; i < l->n; i++)
            jl_push(c, out.u.l,
                    jx_filter(c, line, f, l->v[i], args + 1, names ? names + 1 : NULL, n - 1));
        return out;
    }
    if (!strcmp(name, "attr")) {
        if (!n)
            jx_fail(c, line, "attr needs a name");
        return jx_getattr(c, line, in, args[0], 0);
    }
    if (!strcmp(name, "int")) {
        struct jv *d = jx_arg(args, names, n, 0, "default");
        return to_int(c, in, d ? *d : jv_int(0));
    }
    if (!strcmp(name, "float")) {
        struct jv *d = jx_arg(args, names, n, 0, "default");
        if (in.k == JV_FLOAT)
            return in;
        if (in.k == JV_INT || in.k == JV_BOOL)
            return jv_float(in.k == JV_INT ? (double)in.u.i : in.u.b);
        if (in.k == JV_STR) {
            char tmp[64], *end;
            snprintf(tmp, sizeof tmp, "%.*s", (int)(in.u.s.n < 63 ? in.u.s.n : 63), in.u.s.p);
            double f = strtod(tmp, &end);
            if (end != tmp && *end == '\0')
                return jv_float(f);
        }
        return d ? *d : jv_float(0.0);
    }
    if (!strcmp(name, "abs")) {
        if (in.k == JV_INT)
            return in.u.i == INT64_MIN ? in : jv_int(in.u.i < 0 ? -in.u.i : in.u.i);
        if (in.k == JV_FLOAT)
            return jv_float(fabs(in.u.f));
        if (in.k == JV_BOOL)
            return jv_int(in.u.b);
        jx_fail(c, line, "bad operand type for abs(): '%s'", jv_type_name(in));
    }
    if (!strcmp(name, "round")) {
        struct jv *pr = jx_arg(args, names, n, 0, "precision");
        struct jv *m = jx_arg(args, names, n, 1, "method");
        int64_t prec = pr && pr->k == JV_INT ? pr->u.i : 0;
        if (prec < 0 || prec > 15)
            prec = prec < 0 ? 0 : 15;
        double f = in.k == JV_FLOAT ? in.u.f : in.k == JV_INT ? (double)in.u.i : in.u.b;
        if (in.k != JV_FLOAT && in.k != JV_INT && in.k != JV_BOOL)
            jx_fail(c, line, "round needs a number");
        double s = pow(10.0, (double)prec);
        if (m && jv_is_str(*m, "floor"))
            return jv_float(floor(f * s) / s);
        if (m && jv_is_str(*m, "ceil"))
            return jv_float(ceil(f * s) / s);
        double r = nearbyint(f * s) / s; /* Python rounds half to even */
        return jv_float(r);
    }
    if (!strcmp(name, "sum")) {
        struct jv *attr = jx_arg(args, names, n, 0, "attribute");
        struct jv *start = jx_arg(args, names, n, 1, "start");
        struct jv acc = start ? *start : jv_int(0);
        struct jlist *l = jv_iter(c, line, in);
        for (size_t i = 0; i < l->n; i++) {
            struct jv v = attr ? jx_getattr(c, line, l->v[i], *attr, 1) : l->v[i];
            if ((acc.k != JV_INT && acc.k != JV_FLOAT) || (v.k != JV_INT && v.k != JV_FLOAT))
                jx_fail(c, line, "sum needs numbers");
            if (acc.k == JV_INT && v.k == JV_INT) {
                if (__builtin_add_overflow(acc.u.i, v.u.i, &acc.u.i))
                    jx_fail(c, line, "integer overflow");
            } else {
                acc = jv_float((acc.k == JV_INT ? (double)acc.u.i : acc.u.f) +
                               (v.k == JV_INT ? (double)v.u.i : v.u.f));
            }
        }
        return acc;
    }
    if (!strcmp(name, "indent")) {
        struct jv *w = jx_arg(args, names, n, 0, "width");
        int first = arg_bool(args, names, n, 1, "first");
        int blank = arg_bool(args, names, n, 2, "blank");
        struct jv ind;
        if (w && w->k == JV_STR)
            ind = *w;
        else {
            int64_t k = w && w->k == JV_INT ? w->u.i : 4;
            if (k < 0)
                k = 0;
            if (k > 256)
                k = 256;
            ind = jv_str(c,
                         "                                                                "
                         "                                                                "
                         "                                                                "
                         "                                                                ",
                         (size_t)k);
        }
        struct jv s = need_str(c, in);
        struct jv lines = jx_split(c, line, s, &(struct jv){.k = JV_STR, .u.s = {"\n", 1}}, -1, 0);
        struct jsb b;
        jx_buf(c, &b);
        if (first)
            jx_put(c, &b, ind.u.s.p, ind.u.s.n);
        for (size_t i = 0; i < lines.u.l->n; i++) {
            struct jv ln = lines.u.l->v[i];
            if (i) {
                jx_put(c, &b, "\n", 1);
                if (ln.u.s.n || blank)
                    jx_put(c, &b, ind.u.s.p, ind.u.s.n);
            }
            jx_put(c, &b, ln.u.s.p, ln.u.s.n);
        }
        return jx_buf_str(c, &b);
    }
    if (!strcmp(name, "e") || !strcmp(name, "escape"))
        return jx_html_escape(c, in);
    if (!strcmp(name, "format"))
        return jx_format(c, line, need_str(c, in), args, names, n, 1);
    if (!strcmp(name, "wordcount")) {
        struct jv parts = jx_split(c, line, need_str(c, in), NULL, -1, 0);
        return jv_int((int64_t)parts.u.l->n);
    }
    if (!jx_filter_known(name))
        jx_fail(c, line, "no filter named '%s'", name);
    jx_fail(c, line, "the filter '%s' is not supported", name);
}

/* markupsafe's escape(): a Markup string stays as it is. */
struct jv jx_html_escape(struct jctx *c, struct jv in)
{
    if (in.k == JV_STR && in.safe)
        return in;
    {
        struct jv s = need_str(c, in);
        struct jsb b;
        jx_buf(c, &b);
        for (size_t i = 0; i < s.u.s.n; i++) {
            char ch = s.u.s.p[i];
            const char *r = ch == '&'    ? "&amp;"
                            : ch == '<'  ? "&lt;"
                            : ch == '>'  ? "&gt;"
                            : ch == '"'  ? "&#34;"
                            : ch == '\'' ? "&#39;"
                                         : NULL;
            if (r)
                jx_put(c, &b, r, strlen(r));
            else
                jx_put(c, &b, &ch, 1);
        }
        struct jv r = jx_buf_str(c, &b);
        r.safe = 1;
        return r;
    }
}

static int is_number(struct jv v)
{
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

int jx_test(struct jctx *c, int line, const char *name, struct jv in, struct jv *args, size_t n)
{
    if (!jx_test_known(name))
        jx_fail(c, line, "no test named '%s'", name);
    if (!strcmp(name, "defined"))
        return in.k != JV_UNDEF;
    if (!strcmp(name, "undefined"))
        return in.k == JV_UNDEF;
    if (!strcmp(name, "none"))
        return in.k == JV_NONE;
    if (!strcmp(name, "string"))
        return in.k == JV_STR;
    if (!strcmp(name, "mapping"))
        return in.k == JV_DICT;
    if (!strcmp(name, "iterable"))
        return in.k == JV_LIST || in.k == JV_DICT || in.k == JV_STR || in.k == JV_UNDEF ||
               in.k == JV_NS;
    if (!strcmp(name, "sequence"))
        return in.k == JV_LIST || in.k == JV_DICT || in.k == JV_STR || in.k == JV_UNDEF;
    if (!strcmp(name, "number"))
        return is_number(in);
    if (!strcmp(name, "integer"))
        return in.k == JV_INT;
    if (!strcmp(name, "float"))
        return in.k == JV_FLOAT;
    if (!strcmp(name, "boolean"))
        return in.k == JV_BOOL;
    if (!strcmp(name, "true"))
        return in.k == JV_BOOL && in.u.b;
    if (!strcmp(name, "false"))
        return in.k == JV_BOOL && !in.u.b;
    if (!strcmp(name, "callable"))
        return in.k == JV_MACRO || in.k == JV_FUNC;
    if (!strcmp(name, "escaped"))
        return 0;
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        if (in.k != JV_STR)
            jx_fail(c, line, "'%s' object has no attribute '%s'", jv_type_name(in), name);
        int any = 0;
        for (size_t i = 0; i < in.u.s.n; i++) {
            char ch = in.u.s.p[i];
            if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
                any = 1;
                if ((name[0] == 'l') != (ch >= 'a' && ch <= 'z'))
                    return 0;
            }
        }
        return any;
    }
    if (!strcmp(name, "odd") || !strcmp(name, "even") || !strcmp(name, "divisibleby")) {
        int64_t d = 2;
        if (name[0] == 'd') {
            if (n < 1 || (args[0].k != JV_INT && args[0].k != JV_BOOL))
                jx_fail(c, line, "divisibleby needs an integer");
            d = args[0].k == JV_INT ? args[0].u.i : args[0].u.b;
            if (d == 0)
                jx_fail(c, line, "integer division or modulo by zero");
        }
        if (in.k != JV_INT && in.k != JV_BOOL)
            jx_fail(c, line, "the %s test needs an integer, not '%s'", name, jv_type_name(in));
        int64_t v = in.k == JV_INT ? in.u.i : in.u.b;
        int64_t m = d == -1 ? 0 : v % d;
        if (name[0] == 'o')
            return m != 0;
        return m == 0;
    }
    if (n < 1)
        jx_fail(c, line, "the %s test needs an argument", name);
    struct jv b = args[0];
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "=="))
        return jv_eq(in, b);
    if (!strcmp(name, "ne") || !strcmp(name, "!="))
        return !jv_eq(in, b);
    if (!strcmp(name, "sameas"))
        return jv_eq(in, b) && in.k == b.k &&
               (in.k == JV_NONE || in.k == JV_BOOL || in.k == JV_UNDEF);
    if (!strcmp(name, "in")) {
        if (b.k == JV_STR)
            return in.k == JV_STR && memmem(b.u.s.p, b.u.s.n, in.u.s.p, in.u.s.n) != NULL;
        struct jlist *l = b.k == JV_DICT ? NULL : jv_iter(c, line, b);
        if (!l)
            return jd_get(b.u.d, in) != NULL;
        for (size_t i = 0; i < l->n; i++)
            if (jv_eq(l->v[i], in))
                return 1;
        return 0;
    }
    int r = jv_cmp(c, line, in, b);
    if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
        return r < 0;
    if (!strcmp(name, "le") || !strcmp(name, "<="))
        return r <= 0;
    if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
        return r > 0;
    return r >= 0;
}
