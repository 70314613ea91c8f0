/* The Jinja interpreter: statements render into a capped buffer, expressions evaluate to
 * values, with jinja2's scoping (a for loop's body and a macro's body are their own scopes; `if`
 * is not) and its sandbox (no mutation of lists and dicts, no attribute outside the data). */
#include "chat/jinja_int.h"

#include "base/util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void jx_free_arena(struct jctx *c);

static _Noreturn void vfail(struct jctx *c, int code, int line, const char *fmt, va_list ap)
{
    char msg[400];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->e) {
        if (line > 0)
            err_set(c->e, code, "template line %d: %s", line, msg);
        else
            err_set(c->e, code, "template: %s", msg);
    }
    c->err_code = code;
    longjmp(c->jmp, 1);
}

/* vfail unwinds with longjmp, so va_end never runs: harmless for the va_list of a frame that
 * is abandoned (glibc's va_end is a no-op). */
void jx_fail(struct jctx *c, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, ERR_BAD_REQUEST, line, fmt, ap);
    // cppcheck-suppress va_end_missing
}

void jx_fail_code(struct jctx *c, int code, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, code, line, fmt, ap);
    // cppcheck-suppress va_end_missing
}

/* ---- scopes ---- */

static struct jframe *frame_new(struct jctx *c, struct jframe *parent)
{
    struct jframe *f = jx_alloc(c, sizeof *f);
    f->parent = parent;
    return f;
}

static struct jv lookup(struct jctx *c, struct jframe *f, const char *name)
{
    for (; f; f = f->parent) {
        struct jv *v = jd_gets(&f->vars, name);
        if (v)
            return *v;
    }
    static const char *const globals[] = {"range",           "namespace",    "dict",
                                          "raise_exception", "strftime_now", NULL};
    for (size_t i = 0; globals[i]; i++)
        if (!strcmp(name, globals[i])) {
            struct jv v = {.k = JV_FUNC};
            v.u.fn = jx_alloc(c, sizeof *v.u.fn);
            v.u.fn->name = globals[i];
            v.u.fn->self = jv_undef(NULL);
            return v;
        }
    return jv_undef(name);
}

static void bind(struct jctx *c, struct jframe *f, const char *name, struct jv v)
{
    jd_set(c, &f->vars, jv_strz(name), v);
}

/* ---- expressions ---- */

struct jv jx_getattr(struct jctx *c, int line, struct jv obj, struct jv key, int subscript)
{
    const char *kname = key.k == JV_STR ? jx_strndup(c, key.u.s.p, key.u.s.n) : NULL;
    switch (obj.k) {
    case JV_UNDEF:
        if (obj.u.s.p)
            jx_fail(c, line, "'%s' is undefined", obj.u.s.p);
        jx_fail(c, line, "a value is undefined");
    case JV_DICT:
    case JV_NS: {
        if (kname && !subscript && obj.k == JV_DICT && jx_has_method(obj, kname))
            break;
        struct jv *v = jd_get(obj.u.d, key);
        if (v)
            return *v;
        break;
    }
    case JV_LIST:
    case JV_STR:
        if (key.k == JV_INT || key.k == JV_BOOL) {
            int64_t i = key.k == JV_INT ? key.u.i : key.u.b;
            size_t n = obj.k == JV_LIST ? obj.u.l->n : ju_len(obj.u.s.p, obj.u.s.n);
            if (i < 0)
                i += (int64_t)n;
            if (i < 0 || (size_t)i >= n)
                return jv_undef(NULL);
            if (obj.k == JV_LIST)
                return obj.u.l->v[i];
            size_t a = ju_off(obj.u.s.p, obj.u.s.n, (size_t)i);
            size_t b = ju_off(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
            return jv_strb(obj.u.s.p + a, b - a);
        }
        break;
    case JV_FUNC:
        /* jinja2 hands back an undefined that raises for d.update, list.append... */
        if ((obj.u.fn->self.k == JV_DICT || obj.u.fn->self.k == JV_LIST) &&
            jx_method_unsafe(obj.u.fn->name))
            jx_fail(c, line, "access to attribute '%s' of '%s' object is unsafe.", obj.u.fn->name,
                    jv_type_name(obj.u.fn->self));
        break;
    case JV_LOOP: {
        struct jloop *l = obj.u.loop;
        size_t n = l->items->n;
        if (!kname)
            break;
        if (!strcmp(kname, "index"))
            return jv_int((int64_t)l->i + 1);
        if (!strcmp(kname, "index0"))
            return jv_int((int64_t)l->i);
        if (!strcmp(kname, "revindex"))
            return jv_int((int64_t)(n - l->i));
        if (!strcmp(kname, "revindex0"))
            return jv_int((int64_t)(n - l->i - 1));
        if (!strcmp(kname, "first"))
            return jv_bool(l->i == 0);
        if (!strcmp(kname, "last"))
            return jv_bool(l->i + 1 == n);
        if (!strcmp(kname, "length"))
            return jv_int((int64_t)n);
        if (!strcmp(kname, "depth"))
            return jv_int(1);
        if (!strcmp(kname, "depth0"))
            return jv_int(0);
        if (!strcmp(kname, "previtem"))
            return l->i > 0 ? l->items->v[l->i - 1] : jv_undef("previtem");
        if (!strcmp(kname, "nextitem"))
            return l->i + 1 < n ? l->items->v[l->i + 1] : jv_undef("nextitem");
        if (!strcmp(kname, "cycle") || !strcmp(kname, "changed")) {
            struct jv f = {.k = JV_FUNC};
            f.u.fn = jx_alloc(c, sizeof *f.u.fn);
            f.u.fn->name = kname;
            f.u.fn->self = obj;
            return f;
        }
        return jv_undef(NULL);
    }
    default: break;
    }
    if (kname && jx_has_method(obj, kname)) {
        struct jv f = {.k = JV_FUNC};
        f.u.fn = jx_alloc(c, sizeof *f.u.fn);
        f.u.fn->name = kname;
        f.u.fn->self = obj;
        return f;
    }
    return jv_undef(NULL);
}

static int64_t slice_index(struct jctx *c, const struct jnode *n, int line)
{
    struct jv v = jx_eval(c, n);
    if (v.k == JV_INT)
        return v.u.i;
    if (v.k == JV_BOOL)
        return v.u.b;
    jx_fail(c, line, "slice indices must be integers or None");
}

static struct jv do_slice(struct jctx *c, const struct jnode *n, struct jv obj)
{
    const struct jnode *s = n->b;
    int has_start = s->a != NULL, has_stop = s->b != NULL;
    int64_t start = 0, stop = 0, step = 1;
    if (s->a) {
        struct jv v = jx_eval(c, s->a);
        if (v.k == JV_NONE)
            has_start = 0;
        else
            start = slice_index(c, s->a, n->line);
    }
    if (s->b) {
        struct jv v = jx_eval(c, s->b);
        if (v.k == JV_NONE)
            has_stop = 0;
        else
            stop = slice_index(c, s->b, n->line);
    }
    if (s->c) {
        struct jv v = jx_eval(c, s->c);
        if (v.k != JV_NONE)
            step = slice_index(c, s->c, n->line);
    }
    if (step == 0)
        jx_fail(c, n->line, "slice step cannot be zero");
    if (obj.k == JV_UNDEF)
        return jx_getattr(c, n->line, obj, jv_none(), 1);
    if (obj.k != JV_LIST && obj.k != JV_STR)
        jx_fail(c, n->line, "'%s' object is not subscriptable", jv_type_name(obj));
    int64_t len = obj.k == JV_LIST ? (int64_t)obj.u.l->n : (int64_t)ju_len(obj.u.s.p, obj.u.s.n);
    /* Python's PySlice_AdjustIndices */
    if (!has_start)
        start = step < 0 ? len - 1 : 0;
    else if (start < 0) {
        start += len;
        if (start < 0)
            start = step < 0 ? -1 : 0;
    } else if (start >= len)
        start = step < 0 ? len - 1 : len;
    if (!has_stop)
        stop = step < 0 ? -1 : len;
    else if (stop < 0) {
        stop += len;
        if (stop < 0)
            stop = step < 0 ? -1 : 0;
    } else if (stop >= len)
        stop = step < 0 ? len - 1 : len;
    struct jv out = jv_list(c, 0);
    out.tuple = obj.tuple;
    struct jsb b;
    if (obj.k == JV_STR)
        jx_buf(c, &b);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (obj.k == JV_LIST) {
            jl_push(c, out.u.l, obj.u.l->v[i]);
        } else {
            size_t a = ju_off(obj.u.s.p, obj.u.s.n, (size_t)i);
            size_t e = ju_off(obj.u.s.p, obj.u.s.n, (size_t)i + 1);
            jx_put(c, &b, obj.u.s.p + a, e - a);
        }
    }
    return obj.k == JV_STR ? jx_buf_str(c, &b) : out;
}

static int contains(struct jctx *c, int line, struct jv hay, struct jv needle)
{
    switch (hay.k) {
    case JV_STR:
        if (needle.k != JV_STR)
            jx_fail(c, line, "'in <string>' requires string as left operand, not %s",
                    jv_type_name(needle));
        if (!needle.u.s.n)
            return 1;
        return memmem(hay.u.s.p, hay.u.s.n, needle.u.s.p, needle.u.s.n) != NULL;
    case JV_LIST:
        for (size_t i = 0; i < hay.u.l->n; i++)
            if (jv_eq(hay.u.l->v[i], needle))
                return 1;
        return 0;
    case JV_DICT:
    case JV_NS: return jd_get(hay.u.d, needle) != NULL;
    case JV_UNDEF: return 0;
    default: jx_fail(c, line, "argument of type '%s' is not iterable", jv_type_name(hay));
    }
}

static int is_num(struct jv v)
{
    return v.k == JV_INT || v.k == JV_FLOAT || v.k == JV_BOOL;
}

static int64_t as_i(struct jv v)
{
    return v.k == JV_INT ? v.u.i : v.u.b;
}

static double as_f(struct jv v)
{
    return v.k == JV_FLOAT ? v.u.f : (double)as_i(v);
}

static _Noreturn void bad_operands(struct jctx *c, int line, const char *op, struct jv a,
                                   struct jv b)
{
    if (a.k == JV_UNDEF || b.k == JV_UNDEF) {
        struct jv u = a.k == JV_UNDEF ? a : b;
        jx_fail(c, line, "'%s' is undefined", u.u.s.p ? u.u.s.p : "value");
    }
    jx_fail(c, line, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
            jv_type_name(b));
}

static struct jv repeat(struct jctx *c, int line, struct jv seq, int64_t k)
{
    if (k < 0)
        k = 0;
    size_t unit = seq.k == JV_STR ? seq.u.s.n : seq.u.l->n * sizeof(struct jv);
    if (unit && (uint64_t)k > c->lim.max_output / unit)
        jx_fail_code(c, ERR_TOO_LARGE, line, "a repeated value is over %zu bytes",
                     c->lim.max_output);
    if (seq.k == JV_STR) {
        struct jsb b;
        jx_buf(c, &b);
        for (int64_t i = 0; i < k; i++)
            jx_put(c, &b, seq.u.s.p, seq.u.s.n);
        return jx_buf_str(c, &b);
    }
    struct jv out = jv_list(c, 0);
    for (int64_t i = 0; i < k; i++)
        for (size_t j = 0; j < seq.u.l->n; j++)
            jl_push(c, out.u.l, seq.u.l->v[j]);
    return out;
}

static struct jv arith(struct jctx *c, int line, int op, struct jv a, struct jv b)
{
    if (op == '~') {
        struct jv sa = jv_to_str(c, a), sb = jv_to_str(c, b);
        struct jsb buf;
        jx_buf(c, &buf);
        jx_put(c, &buf, sa.u.s.p, sa.u.s.n);
        jx_put(c, &buf, sb.u.s.p, sb.u.s.n);
        return jx_buf_str(c, &buf);
    }
    if (is_num(a) && is_num(b)) {
        int fl = a.k == JV_FLOAT || b.k == JV_FLOAT;
        int64_t x = as_i(a), y = as_i(b), r;
        double fx = as_f(a), fy = as_f(b);
        switch (op) {
        case '+':
            if (fl)
                return jv_float(fx + fy);
            if (__builtin_add_overflow(x, y, &r))
                jx_fail(c, line, "integer overflow");
            return jv_int(r);
        case '-':
            if (fl)
                return jv_float(fx - fy);
            if (__builtin_sub_overflow(x, y, &r))
                jx_fail(c, line, "integer overflow");
            return jv_int(r);
        case '*':
            if (fl)
                return jv_float(fx * fy);
            if (__builtin_mul_overflow(x, y, &r))
                jx_fail(c, line, "integer overflow");
            return jv_int(r);
        case '/':
            if (fy == 0.0)
                jx_fail(c, line, "division by zero");
            return jv_float(fx / fy);
        case 'f':
        case '%':
            if (fl) {
                if (fy == 0.0)
                    jx_fail(c, line, "float modulo");
                double q = floor(fx / fy);
                return op == 'f' ? jv_float(q) : jv_float(fx - q * fy);
            }
            if (y == 0)
                jx_fail(c, line, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1)
                jx_fail(c, line, "integer overflow");
            {
                int64_t q = x / y, m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) {
                    q--;
                    m += y;
                }
                return op == 'f' ? jv_int(q) : jv_int(m);
            }
        case 'p':
            if (!fl && y >= 0) {
                int64_t acc = 1;
                for (int64_t i = 0; i < y; i++) {
                    if (__builtin_mul_overflow(acc, x, &acc))
                        jx_fail(c, line, "integer overflow");
                    if (acc == 0 || acc == 1)
                        break;
                }
                if (acc == 1 && x == -1 && (y % 2))
                    acc = -1;
                return jv_int(acc);
            }
            return jv_float(pow(fx, fy));
        }
    }
    if (op == '+' && a.k == JV_STR && b.k == JV_STR) {
        int safe = a.safe || b.safe; /* Markup + str escapes the str */
        if (safe) {
            a = jx_html_escape(c, a);
            b = jx_html_escape(c, b);
        }
        struct jsb buf;
        jx_buf(c, &buf);
        jx_put(c, &buf, a.u.s.p, a.u.s.n);
        jx_put(c, &buf, b.u.s.p, b.u.s.n);
        struct jv r = jx_buf_str(c, &buf);
        r.safe = safe;
        return r;
    }
    if (op == '+' && a.k == JV_LIST && b.k == JV_LIST && a.tuple == b.tuple) {
        struct jv out = jv_list(c, a.u.l->n + b.u.l->n);
        out.tuple = a.tuple;
        for (size_t i = 0; i < a.u.l->n; i++)
            jl_push(c, out.u.l, a.u.l->v[i]);
        for (size_t i = 0; i < b.u.l->n; i++)
            jl_push(c, out.u.l, b.u.l->v[i]);
        return out;
    }
    if (op == '*' && (a.k == JV_STR || a.k == JV_LIST) && (b.k == JV_INT || b.k == JV_BOOL))
        return repeat(c, line, a, as_i(b));
    if (op == '*' && (b.k == JV_STR || b.k == JV_LIST) && (a.k == JV_INT || a.k == JV_BOOL))
        return repeat(c, line, b, as_i(a));
    if (op == '%' && a.k == JV_STR) {
        if (b.k == JV_LIST && b.tuple) /* 'a %s %s' % (x, y) */
            return jx_filter(c, line, "format", a, b.u.l->v, NULL, b.u.l->n);
        struct jv args[1] = {b};
        return jx_filter(c, line, "format", a, args, NULL, 1);
    }
    static const char *const names[] = {
        ['+'] = "+",  ['-'] = "-", ['*'] = "*",          ['/'] = "/",
        ['f'] = "//", ['%'] = "%", ['p'] = "** or pow()"};
    bad_operands(c, line, names[op], a, b);
}

static int compare(struct jctx *c, int line, int op, struct jv a, struct jv b)
{
    switch (op) {
    case JC_EQ: return jv_eq(a, b);
    case JC_NE: return !jv_eq(a, b);
    case JC_IN: return contains(c, line, b, a);
    case JC_NOTIN: return !contains(c, line, b, a);
    default: break;
    }
    int r = jv_cmp(c, line, a, b);
    switch (op) {
    case JC_LT: return r < 0;
    case JC_LE: return r <= 0;
    case JC_GT: return r > 0;
    default: return r >= 0;
    }
}

static struct jv eval_args(struct jctx *c, const struct jnode *n, struct jv **args)
{
    *args = n->n ? jx_alloc(c, n->n * sizeof **args) : NULL;
    for (size_t i = 0; i < n->n; i++)
        (*args)[i] = jx_eval(c, n->kids[i]);
    return jv_none();
}

struct jv jx_eval(struct jctx *c, const struct jnode *n)
{
    c->cur_line = n->line;
    switch (n->kind) {
    case JN_CONST: return n->val;
    case JN_NAME: return lookup(c, c->frame, n->val.u.s.p);
    case JN_LIST:
    case JN_TUPLE: {
        struct jv l = jv_list(c, n->n);
        l.tuple = n->kind == JN_TUPLE;
        for (size_t i = 0; i < n->n; i++)
            jl_push(c, l.u.l, jx_eval(c, n->kids[i]));
        return l;
    }
    case JN_DICT: {
        struct jv d = jv_dict(c);
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            struct jv k = jx_eval(c, n->kids[i]);
            if (k.k == JV_LIST && !k.tuple)
                jx_fail(c, n->line, "unhashable type: 'list'");
            if (k.k == JV_DICT)
                jx_fail(c, n->line, "unhashable type: 'dict'");
            jd_set(c, d.u.d, k, jx_eval(c, n->kids[i + 1]));
        }
        return d;
    }
    case JN_ATTR: return jx_getattr(c, n->line, jx_eval(c, n->a), n->val, 0);
    case JN_ITEM: {
        struct jv obj = jx_eval(c, n->a);
        if (n->b->kind == JN_SLICE)
            return do_slice(c, n, obj);
        return jx_getattr(c, n->line, obj, jx_eval(c, n->b), 1);
    }
    case JN_CALL: {
        struct jv f = jx_eval(c, n->a);
        struct jv *args;
        eval_args(c, n, &args);
        return jx_call_value(c, n->line, f, args, n->names, n->n);
    }
    case JN_FILTER: {
        struct jv in = n->a ? jx_eval(c, n->a) : c->fin;
        struct jv *args;
        eval_args(c, n, &args);
        return jx_filter(c, n->line, n->val.u.s.p, in, args, n->names, n->n);
    }
    case JN_TEST: {
        struct jv in = jx_eval(c, n->a);
        struct jv *args;
        eval_args(c, n, &args);
        int r = jx_test(c, n->line, n->val.u.s.p, in, args, n->n);
        return jv_bool(n->op ? !r : r);
    }
    case JN_UNARY: {
        struct jv v = jx_eval(c, n->a);
        if (n->op == 'n')
            return jv_bool(!jv_truthy(v));
        if (v.k == JV_FLOAT)
            return jv_float(n->op == '-' ? -v.u.f : v.u.f);
        if (v.k == JV_INT || v.k == JV_BOOL) {
            int64_t i = as_i(v);
            if (n->op == '-' && i == INT64_MIN)
                jx_fail(c, n->line, "integer overflow");
            return jv_int(n->op == '-' ? -i : i);
        }
        if (v.k == JV_UNDEF)
            jx_fail(c, n->line, "'%s' is undefined", v.u.s.p ? v.u.s.p : "value");
        jx_fail(c, n->line, "bad operand type for unary %c: '%s'", n->op, jv_type_name(v));
    }
    case JN_BINOP: {
        struct jv a = jx_eval(c, n->a);
        struct jv b = jx_eval(c, n->b);
        return arith(c, n->line, n->op, a, b);
    }
    case JN_COMPARE: {
        struct jv left = jx_eval(c, n->a);
        for (size_t i = 0; i < n->n; i++) {
            struct jv right = jx_eval(c, n->kids[i]);
            if (!compare(c, n->line, n->ops[i], left, right))
                return jv_bool(0);
            left = right;
        }
        return jv_bool(1);
    }
    case JN_AND: {
        struct jv a = jx_eval(c, n->a);
        return jv_truthy(a) ? jx_eval(c, n->b) : a;
    }
    case JN_OR: {
        struct jv a = jx_eval(c, n->a);
        return jv_truthy(a) ? a : jx_eval(c, n->b);
    }
    case JN_COND:
        if (jv_truthy(jx_eval(c, n->b)))
            return jx_eval(c, n->a);
        return n->c ? jx_eval(c, n->c) : jv_undef(NULL);
    default: jx_fail(c, n->line, "not an expression");
    }
}

/* ---- statements ---- */

static void exec(struct jctx *c, const struct jnode *n, struct jsb *out);

static void assign(struct jctx *c, const struct jnode *target, struct jv v)
{
    if (target->kind == JN_NAME) {
        bind(c, c->frame, target->val.u.s.p, v);
    } else if (target->kind == JN_TUPLE) {
        struct jlist *l = jv_iter(c, target->line, v);
        if (l->n != target->n)
            jx_fail(c, target->line, "%s values to unpack (expected %zu, got %zu)",
                    l->n < target->n ? "not enough" : "too many", target->n, l->n);
        for (size_t i = 0; i < target->n; i++)
            assign(c, target->kids[i], l->v[i]);
    } else {
        struct jv ns = lookup(c, c->frame, target->a->val.u.s.p);
        if (ns.k != JV_NS)
            jx_fail(c, target->line, "cannot assign attribute on non-namespace object");
        jd_set(c, ns.u.d, target->val, v);
    }
}

static struct jv render_body(struct jctx *c, const struct jnode *body)
{
    struct jsb b;
    jx_buf(c, &b);
    exec(c, body, &b);
    return jx_buf_str(c, &b);
}

static struct jv call_macro(struct jctx *c, int line, struct jmacro *m, struct jv *args,
                            const char **names, size_t n, struct jv caller)
{
    const struct jnode *def = m->node;
    const char *mname = def->kind == JN_MACRO ? def->val.u.s.p : "caller";
    if (c->depth >= c->lim.max_depth)
        jx_fail_code(c, ERR_TOO_LARGE, line, "macro calls nest deeper than %d", c->lim.max_depth);
    struct jframe *saved = c->frame;
    struct jframe *f = frame_new(c, m->scope);
    struct jv varargs = jv_list(c, 0), kwargs = jv_dict(c);
    varargs.tuple = 1;
    char *set = jx_alloc(c, def->n + 1);
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (names && names[i]) {
            size_t k = 0;
            for (; k < def->n && strcmp(def->names[k], names[i]) != 0; k++)
                ;
            if (k < def->n) {
                bind(c, f, def->names[k], args[i]);
                set[k] = 1;
            } else if (!strcmp(names[i], "caller") && (def->op & JM_CALLER)) {
                caller = args[i];
            } else if (def->op & JM_KWARGS) {
                jd_set(c, kwargs.u.d, jv_strz(names[i]), args[i]);
            } else if (!strcmp(names[i], "caller")) {
                jx_fail(c, line,
                        "macro '%s' was invoked with two values for the special caller "
                        "argument",
                        mname);
            } else {
                jx_fail(c, line, "macro '%s' takes no keyword argument '%s'", mname, names[i]);
            }
        } else if (pos < def->n) {
            bind(c, f, def->names[pos], args[i]);
            set[pos++] = 1;
        } else if (def->op & JM_VARARGS) {
            jl_push(c, varargs.u.l, args[i]);
        } else {
            jx_fail(c, line, "macro '%s' takes not more than %zu argument(s)", mname, def->n);
        }
    }
    if (caller.k != JV_UNDEF && !(def->op & JM_CALLER))
        jx_fail(c, line, "macro '%s' was invoked with two values for the special caller argument",
                mname);
    c->frame = f;
    for (size_t k = 0; k < def->n; k++)
        if (!set[k])
            bind(c, f, def->names[k],
                 def->kids[k] ? jx_eval(c, def->kids[k]) : jv_undef(def->names[k]));
    bind(c, f, "varargs", varargs);
    bind(c, f, "kwargs", kwargs);
    if (caller.k != JV_UNDEF)
        bind(c, f, "caller", caller);
    c->depth++;
    int in_loop = c->in_loop;
    c->in_loop = 0;
    struct jv r = render_body(c, def->c);
    c->in_loop = in_loop;
    c->depth--;
    c->frame = saved;
    return r;
}

static struct jv make_range(struct jctx *c, int line, struct jv *args, size_t n)
{
    int64_t a = 0, b = 0, s = 1;
    for (size_t i = 0; i < n; i++)
        if (args[i].k != JV_INT && args[i].k != JV_BOOL)
            jx_fail(c, line, "range() takes integers, not '%s'", jv_type_name(args[i]));
    if (n == 1)
        b = as_i(args[0]);
    else if (n >= 2) {
        a = as_i(args[0]);
        b = as_i(args[1]);
        if (n >= 3)
            s = as_i(args[2]);
    }
    if (n < 1 || n > 3)
        jx_fail(c, line, "range expected 1 to 3 arguments, got %zu", n);
    if (s == 0)
        jx_fail(c, line, "range() arg 3 must not be zero");
    struct jv out = jv_list(c, 0);
    for (int64_t i = a; s > 0 ? i < b : i > b; i += s) {
        if (out.u.l->n >= 100000) /* jinja2's sandbox caps range() at 100000 items */
            jx_fail(c, line, "range too big, maximum size for range is 100000");
        jl_push(c, out.u.l, jv_int(i));
        if ((s > 0 && i > INT64_MAX - s) || (s < 0 && i < INT64_MIN - s))
            break;
    }
    return out;
}

struct jv jx_call_value(struct jctx *c, int line, struct jv f, struct jv *args, const char **names,
                        size_t n)
{
    if (f.k == JV_MACRO)
        return call_macro(c, line, f.u.m, args, names, n, jv_undef(NULL));
    if (f.k != JV_FUNC) {
        if (f.k == JV_UNDEF)
            jx_fail(c, line, "'%s' is undefined", f.u.s.p ? f.u.s.p : "value");
        jx_fail(c, line, "'%s' object is not callable", jv_type_name(f));
    }
    const char *nm = f.u.fn->name;
    if (f.u.fn->self.k == JV_UNDEF) {
        if (!strcmp(nm, "range"))
            return make_range(c, line, args, n);
        if (!strcmp(nm, "raise_exception")) {
            struct jv msg = n ? jv_to_str(c, args[0]) : jv_strz("");
            jx_fail(c, line, "%.*s", (int)(msg.u.s.n > 300 ? 300 : msg.u.s.n), msg.u.s.p);
        }
        if (!strcmp(nm, "strftime_now")) {
            if (!n || args[0].k != JV_STR)
                jx_fail(c, line, "strftime_now() takes a format string");
            char fmt[256], res[512];
            snprintf(fmt, sizeof fmt, "%.*s", (int)args[0].u.s.n, args[0].u.s.p);
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
            size_t k = strftime(res, sizeof res, fmt, &tm); /* the template's format, as Python */
#pragma GCC diagnostic pop
            return jv_str(c, res, k);
        }
        /* namespace() and dict(): from a mapping and keyword arguments */
        struct jv d = jv_dict(c);
        d.k = !strcmp(nm, "namespace") ? JV_NS : JV_DICT;
        for (size_t i = 0; i < n; i++) {
            if (names && names[i]) {
                jd_set(c, d.u.d, jv_strz(names[i]), args[i]);
            } else if (args[i].k == JV_DICT || args[i].k == JV_NS) {
                for (size_t k = 0; k < args[i].u.d->n; k++)
                    jd_set(c, d.u.d, args[i].u.d->k[k], args[i].u.d->v[k]);
            } else {
                jx_fail(c, line, "%s() takes a mapping and keyword arguments", nm);
            }
        }
        return d;
    }
    if (f.u.fn->self.k == JV_LOOP) {
        struct jloop *l = f.u.fn->self.u.loop;
        if (!strcmp(nm, "cycle")) {
            if (!n)
                jx_fail(c, line, "no items for cycling given");
            return args[l->i % n];
        }
        struct jv cur = n == 1 ? args[0] : jv_none();
        if (n > 1) {
            cur = jv_list(c, n);
            for (size_t i = 0; i < n; i++)
                jl_push(c, cur.u.l, args[i]);
        }
        int changed = !l->changed_set || !jv_eq(cur, l->last_changed);
        l->changed_set = 1;
        l->last_changed = cur;
        return jv_bool(changed);
    }
    return jx_method(c, line, f.u.fn, args, names, n);
}

static void exec_for(struct jctx *c, const struct jnode *n, struct jsb *out)
{
    struct jv seq = jx_eval(c, n->b);
    struct jlist *items = jv_iter(c, n->line, seq);
    struct jframe *saved = c->frame;
    if (n->e) { /* `for x in xs if cond`: loop.* counts the kept items */
        struct jv kept = jv_list(c, 0);
        for (size_t i = 0; i < items->n; i++) {
            c->frame = frame_new(c, saved);
            assign(c, n->a, items->v[i]);
            if (jv_truthy(jx_eval(c, n->e)))
                jl_push(c, kept.u.l, items->v[i]);
        }
        c->frame = saved;
        items = kept.u.l;
    }
    if (!items->n) {
        if (n->d)
            exec(c, n->d, out);
        return;
    }
    struct jloop *loop = jx_alloc(c, sizeof *loop);
    loop->items = items;
    struct jv lv = {.k = JV_LOOP};
    lv.u.loop = loop;
    int in_loop = c->in_loop;
    c->in_loop = 1;
    struct jframe *body = NULL;
    for (size_t i = 0; i < items->n; i++) {
        if (++c->iterations > c->lim.max_iterations)
            jx_fail_code(c, ERR_TOO_LARGE, n->line, "loops ran more than %ld iterations",
                         c->lim.max_iterations);
        loop->i = i;
        /* Each iteration starts from a fresh scope; its memory is reused unless a macro
         * defined in the body holds on to it. */
        if (!body || body->captured)
            body = frame_new(c, saved);
        body->vars.n = 0;
        c->frame = body;
        bind(c, c->frame, "loop", lv);
        assign(c, n->a, items->v[i]);
        exec(c, n->c, out);
        c->frame = saved;
        if (c->brk == 1) {
            c->brk = 0;
            break;
        }
        c->brk = 0;
    }
    c->in_loop = in_loop;
    c->frame = saved;
}

static void exec(struct jctx *c, const struct jnode *n, struct jsb *out)
{
    c->cur_line = n->line;
    switch (n->kind) {
    case JN_BODY:
        for (size_t i = 0; i < n->n && !c->brk; i++)
            exec(c, n->kids[i], out);
        return;
    case JN_TEXT: jx_put(c, out, n->val.u.s.p, n->val.u.s.n); return;
    case JN_OUT: jv_print(c, out, jx_eval(c, n->a), 0); return;
    case JN_IF:
        if (jv_truthy(jx_eval(c, n->a)))
            exec(c, n->b, out);
        else if (n->c)
            exec(c, n->c, out);
        return;
    case JN_FOR: exec_for(c, n, out); return;
    case JN_SET: assign(c, n->a, jx_eval(c, n->b)); return;
    case JN_SETB: {
        struct jv v = render_body(c, n->c);
        if (n->e) {
            c->fin = v;
            v = jx_eval(c, n->e);
        }
        assign(c, n->a, v);
        return;
    }
    case JN_MACRO: {
        struct jv m = {.k = JV_MACRO};
        m.u.m = jx_alloc(c, sizeof *m.u.m);
        m.u.m->node = n;
        m.u.m->scope = c->frame;
        c->frame->captured = 1;
        bind(c, c->frame, n->val.u.s.p, m);
        return;
    }
    case JN_CALLB: {
        struct jv caller = {.k = JV_MACRO};
        caller.u.m = jx_alloc(c, sizeof *caller.u.m);
        caller.u.m->node = n;
        caller.u.m->scope = c->frame;
        c->frame->captured = 1;
        const struct jnode *call = n->a;
        struct jv f = jx_eval(c, call->a);
        struct jv *args;
        eval_args(c, call, &args);
        if (f.k != JV_MACRO)
            jx_fail(c, n->line, "{%% call %%} needs a macro");
        struct jv r = call_macro(c, n->line, f.u.m, args, call->names, call->n, caller);
        jx_put(c, out, r.u.s.p, r.u.s.n);
        return;
    }
    case JN_FILTB: {
        c->fin = render_body(c, n->c);
        struct jv r = jv_to_str(c, jx_eval(c, n->e));
        jx_put(c, out, r.u.s.p, r.u.s.n);
        return;
    }
    case JN_BREAK:
    case JN_CONTINUE:
        if (!c->in_loop)
            jx_fail(c, n->line, "'%s' outside a loop", n->kind == JN_BREAK ? "break" : "continue");
        c->brk = n->kind == JN_BREAK ? 1 : 2;
        return;
    default: jx_fail(c, n->line, "not a statement");
    }
}

void jinja_default_limits(struct jinja_limits *lim)
{
    lim->max_template = 1 << 20;
    lim->max_nodes = 500000;
    lim->max_output = 32u << 20;
    lim->max_memory = 512u << 20;
    lim->max_iterations = 1000000;
    lim->max_depth = 100;
}

int jinja_render(const char *tmpl, size_t len, json_t *vars, const struct jinja_limits *lim,
                 char **out, struct err *e)
{
    struct jctx *c = xcalloc(1, sizeof *c);
    int rc = 0;
    *out = NULL;
    c->e = e;
    if (lim)
        c->lim = *lim;
    else
        jinja_default_limits(&c->lim);
    if (setjmp(c->jmp)) {
        rc = c->err_code;
        goto done;
    }
    if (len > c->lim.max_template)
        jx_fail_code(c, ERR_TOO_LARGE, 0, "the template is over %zu bytes", c->lim.max_template);
    jx_lex(c, tmpl, len);
    struct jnode *root = jx_parse(c);
    c->root = frame_new(c, NULL);
    if (vars) {
        const char *k;
        json_t *v;
        json_object_foreach(vars, k, v)
        {
            bind(c, c->root, jx_strndup(c, k, strlen(k)), jv_from_json(c, v, 0));
        }
    }
    c->frame = c->root;
    struct jsb b;
    jx_buf(c, &b);
    exec(c, root, &b);
    *out = xmalloc(b.len + 1);
    if (b.len)
        memcpy(*out, b.data, b.len);
    (*out)[b.len] = '\0';
done:
    jx_free_arena(c);
    free(c);
    return rc;
}
